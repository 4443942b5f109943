import Foundation
import SLMModel
import SLMTensor

/// Where a run stands after a step: enough, with the weights and optimizer moments saved beside it,
/// to continue exactly. The data position, learning rate and dropout masks are functions of the step.
public struct CheckpointState: Codable, Equatable, Sendable {
    /// Optimizer steps completed.
    public var step: Int
    public var totalSteps: Int
    /// The next micro-batch to read: epoch and index within it.
    public var epoch: Int
    public var batchIndex: Int
    public var seed: UInt64
    /// Trained tokens so far (not padding).
    public var tokens: Int
}

/// A checkpoint is a folder `checkpoints/step-NNNNNN` holding the trained tensors (the adapter files
/// for LoRA), `optimizer.safetensors` (exp_avg.<name>, exp_avg_sq.<name>) and `state.json`. It is
/// written under a temporary name and renamed whole, then `checkpoints/latest` is replaced
/// atomically; older checkpoints go only after that, so a run killed at any moment leaves one intact.
enum Checkpoint {
    static let stateFile = "state.json"
    static let optimizerFile = "optimizer.safetensors"

    static func save(_ state: CheckpointState, trainable: TrainableParameters, optimizer: AdamW, in run: RunFolder) throws {
        let fileManager = FileManager.default
        let final = run.checkpoint(step: state.step)
        let temporary = run.checkpoints + "/.incomplete-\((final as NSString).lastPathComponent)"
        try? fileManager.removeItem(atPath: temporary)
        try fileManager.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        try trainable.save(to: temporary)
        var moments: [String: Tensor] = [:]
        for (n, name) in trainable.named.map(\.name).enumerated() {
            moments["exp_avg." + name] = optimizer.exp_avg[n]
            moments["exp_avg_sq." + name] = optimizer.exp_avg_sq[n]
        }
        try SafetensorsWriter.write(moments, metadata: ["step": String(optimizer.step)], to: temporary + "/" + optimizerFile)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(state), to: temporary + "/" + stateFile)
        try? fileManager.removeItem(atPath: final)
        try fileManager.moveItem(atPath: temporary, toPath: final)
        let previous = run.latestCheckpoint
        try AtomicFile.write(Data((final as NSString).lastPathComponent.utf8), to: run.latestPointer)
        if let previous, previous != final { try? fileManager.removeItem(atPath: previous) }
    }

    /// Reads the checkpoint in `folder` back into the trained tensors and the optimizer.
    static func restore(from folder: String, trainable: TrainableParameters, optimizer: AdamW) throws -> CheckpointState {
        let statePath = folder + "/" + stateFile
        let state: CheckpointState
        do {
            state = try JSONDecoder().decode(CheckpointState.self, from: Data(contentsOf: URL(fileURLWithPath: statePath)))
        } catch {
            throw FormatError(file: statePath, field: nil, "cannot read the checkpoint state: \(error)")
        }
        try trainable.restore(from: folder)
        let file = try SafetensorsFile(path: folder + "/" + optimizerFile)
        func moment(_ name: String, like tensor: Tensor) throws -> Tensor {
            guard let info = file.tensor(named: name), info.shape == tensor.shape else {
                throw FormatError(file: file.path, field: name, "missing, or not of shape \(tensor.shape)")
            }
            return try file.floats(info)
        }
        let named = trainable.named
        guard let optimizerStep = file.metadata["step"].flatMap(Int.init) else {
            throw FormatError(file: file.path, field: "__metadata__.step", "missing")
        }
        try optimizer.restore(
            step: optimizerStep,
            expAvg: try named.map { try moment("exp_avg." + $0.name, like: $0.tensor) },
            expAvgSq: try named.map { try moment("exp_avg_sq." + $0.name, like: $0.tensor) })
        return state
    }
}
