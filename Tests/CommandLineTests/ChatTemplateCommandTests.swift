import Foundation
import SLMTestSupport
import XCTest

/// `slm generate --chat --chat-template NAME`: a format by name, or a clear refusal.
final class ChatTemplateCommandTests: XCTestCase {
    func testChatInANamedFormatAnswersAndAnUnknownNameIsRefused() throws {
        let model = try Fixture.demoModelPath()
        let refused = try slm(["generate", model, "--chat", "--chat-template", "vicuna"], captureError: true)
        XCTAssertNotEqual(refused.waitForExit(), 0)
        XCTAssertTrue(refused.errorText.contains("--chat-template must be one of auto, chatml, llama3, mistral, phi3, phi4, gemma"), refused.errorText)

        for name in ["chatml", "gemma"] {
            let chat = try slm(["generate", model, "--chat", "--chat-template", name, "--max-tokens", "4"], captureError: true, input: "Hi\n")
            XCTAssertEqual(chat.waitForExit(), 0, chat.errorText)
            XCTAssertTrue(chat.errorText.contains("[prompt "), "\(name): \(chat.errorText)")
        }
    }
}
