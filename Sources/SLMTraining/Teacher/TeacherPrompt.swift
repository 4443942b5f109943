import SLMModel

/// What a teacher is asked to answer for one training record (sequence-level distillation): the
/// conversation up to the record's final reply, and the same prompt as the student reads it.
///
/// ```
/// chat               messages before the last assistant turn   (earlier assistant turns included)
/// prompt_completion  [user: prompt]
/// alpaca             [user: instruction, or instruction + "\n\n" + input]
/// text               refused: plain text has no prompt to answer
/// ```
public struct TeacherPrompt: Sendable, Equatable {
    /// Sent to `/chat/completions`.
    public var messages: [ChatMessage]
    /// The prompt in the student's layout (`SampleFormatter`): it ends with the chat template's generation
    /// prompt (`<|im_start|>assistant\n` under ChatML); the teacher's reply, tokenized by the student, follows it.
    public var studentPromptIDs: [Int32]
    /// The student's end of a reply (the template's end of turn: `<|im_end|>`, `<|eot_id|>`, …; <eos>
    /// without a template), appended to a reply the teacher ended by itself; empty when the layout has none.
    public var endOfReply: [Int32]

    public init(messages: [ChatMessage], studentPromptIDs: [Int32], endOfReply: [Int32]) {
        self.messages = messages
        self.studentPromptIDs = studentPromptIDs
        self.endOfReply = endOfReply
    }
}

/// A record the teacher cannot write a reply for.
public struct TeacherPromptError: Error, CustomStringConvertible {
    public let description: String
}

extension SampleFormatter {
    /// The teacher's prompt for `record`, laid out exactly as `sample(record)` lays out the tokens
    /// before the final reply.
    public func teacherPrompt(_ record: DataRecord) throws -> TeacherPrompt {
        let messages: [ChatMessage]
        switch record {
        case .text:
            throw TeacherPromptError(
                description: "text records have no prompt for a teacher to answer: teacher-written replies (distillation.teacher.api.mode: generate) need chat, prompt_completion or alpaca data; plain text can only be scored (mode: echo)")
        case .promptCompletion(let prompt, _): messages = [ChatMessage(role: "user", content: prompt)]
        case .alpaca(let instruction, let input, _):
            messages = [ChatMessage(role: "user", content: input.isEmpty ? instruction : instruction + "\n\n" + input)]
        case .chat(let all):
            guard let last = all.lastIndex(where: { $0.role == "assistant" }) else {
                throw TeacherPromptError(description: "a chat record without an assistant message has no reply for the teacher to write")
            }
            messages = Array(all[..<last])
        }
        let pieces = try pieces(record)
        guard let last = pieces.lastIndex(where: { $0.role == .reply }) else {
            throw TeacherPromptError(description: "a record without a reply has nothing for the teacher to write")
        }
        let after = pieces.index(after: last)
        let end = after < pieces.endIndex && pieces[after].role == .endOfTurn ? tokens(pieces[after]) : []
        return TeacherPrompt(messages: messages, studentPromptIDs: pieces[..<last].flatMap(tokens), endOfReply: end)
    }
}
