/// The "did you mean" of an unknown recipe key: the known key it is most likely a misspelling of,
/// or what other tools (Hugging Face Trainer, PEFT, mlx-lm, axolotl) call it.
enum KeySuggestion {
    /// Other tools' names for slm's keys.
    static let aliases: [String: String] = [
        "learning_rate": "lr", "lr_scheduler": "schedule", "lr_scheduler_type": "schedule", "scheduler": "schedule",
        "epoch": "epochs", "num_epochs": "epochs", "num_train_epochs": "epochs",
        "max_steps": "steps", "num_steps": "steps", "iters": "steps", "iterations": "steps", "total_steps": "steps",
        "warmup": "warmup_steps", "num_warmup_steps": "warmup_steps",
        "micro_batch_size": "batch_size", "per_device_train_batch_size": "batch_size",
        "gradient_accumulation_steps": "gradient_accumulation", "grad_accum": "gradient_accumulation",
        "accumulation_steps": "gradient_accumulation",
        "max_seq_length": "sequence_length", "max_seq_len": "sequence_length", "seq_len": "sequence_length",
        "seq_length": "sequence_length", "max_length": "sequence_length", "context_length": "sequence_length",
        "block_size": "sequence_length", "cutoff_len": "sequence_length",
        "adam_epsilon": "adam_eps", "epsilon": "adam_eps", "eps": "adam_eps",
        "beta1": "adam_beta1", "beta2": "adam_beta2", "clip": "max_grad_norm", "grad_clip": "max_grad_norm",
        "rank": "r", "lora_r": "r", "lora_rank": "r", "lora_alpha": "alpha", "scale": "alpha",
        "lora_dropout": "dropout", "modules": "target_modules", "lora_target_modules": "target_modules",
        "rslora": "use_rslora",
        "model_path": "path", "model_name_or_path": "path", "file": "path",
        "validation": "heldout", "valid": "heldout", "eval": "heldout", "test": "heldout", "val": "heldout",
        "validation_split": "heldout_fraction", "val_split": "heldout_fraction", "val_set_size": "heldout_fraction",
        "train_file": "train", "seq_packing": "packing", "sample_packing": "packing",
        "output_dir": "dir", "out": "dir", "save_steps": "checkpoint_every", "save_every": "checkpoint_every",
        "logging_steps": "log_every", "steps_per_report": "log_every",
        "eval_steps": "every", "eval_every": "every", "steps_per_eval": "every",
        "num_threads": "threads", "template": "chat_template",
    ]

    /// The key of `known` the user most likely meant by `key`, if any is close enough.
    static func suggestion(for key: String, known: [String]) -> String? {
        if let same = sameKey(key, known: known) { return same }
        let spellings = known.map { ($0, $0) } + aliases.filter { known.contains($0.value) }.map { ($0.key, $0.value) }
        let allowed = max(1, key.count / 3)
        let nearest = spellings.map { (distance: editDistance(normalized($0.0), normalized(key)), key: $0.1) }
            .min { ($0.distance, $0.key) < ($1.distance, $1.key) }
        guard let nearest, nearest.distance <= allowed else { return nil }
        return nearest.key
    }

    /// The key of `known` that `key` is another spelling or another tool's name of.
    static func sameKey(_ key: String, known: [String]) -> String? {
        if let same = known.first(where: { normalized($0) == normalized(key) }) { return same }
        let alias = aliases.first { normalized($0.key) == normalized(key) }?.value
        return alias.flatMap { known.contains($0) ? $0 : nil }
    }

    /// `batchSize`, `Batch-Size` and `batch_size` are one key.
    private static func normalized(_ key: String) -> String {
        String(key.lowercased().filter { $0 != "_" && $0 != "-" })
    }

    /// Insertions, deletions, substitutions and swaps of two neighbours to turn `a` into `b`
    /// (optimal string alignment distance).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
