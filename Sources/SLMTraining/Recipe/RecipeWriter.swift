/// The effective recipe, every key with its value (defaults filled in), as YAML that `RecipeLoader`
/// reads back to an equal `Recipe`. The trainer writes it into the run folder.
///
/// Without a lora section the run is full fine-tuning and `train.trainable` is written; with one,
/// `trainable` is left out (the loader refuses it there), so it must keep its default.
public enum RecipeWriter {
    public static func yaml(_ recipe: Recipe) -> String {
        var out = "# The effective recipe: every key with the value the run uses, defaults filled in (docs/recipes.md).\n"
        func section(_ name: String, _ entries: [(String, String)], comment: String? = nil) {
            out += "\n\(name):\n"
            if let comment { out += "  # \(comment)\n" }
            for (key, value) in entries { out += "  \(key): \(value)\n" }
        }
        let m = recipe.model
        section("model", [
            ("path", quoted(m.path)), ("keep_quantized", "\(m.keepQuantized)"), ("dtype", m.dtype.rawValue),
            ("chat_template", m.chatTemplate.rawValue), ("name", m.name.map(quoted) ?? "null"),
            ("keep_layers", m.keepLayers.map { "\($0)" } ?? "null"), ("layer_selection", m.layerSelection.rawValue),
            ("calibration_samples", "\(m.calibrationSamples)"),
        ])
        if let l = recipe.lora {
            section("lora", [
                ("r", "\(l.r)"), ("alpha", "\(l.alpha)"), ("dropout", "\(l.dropout)"),
                ("target_modules", l.targetModules == [Recipe.LoRASection.allLinear] ? l.targetModules[0] : "[\(l.targetModules.joined(separator: ", "))]"),
                ("use_rslora", "\(l.useRSLoRA)"),
            ])
        }
        let d = recipe.data
        section("data", [
            ("train", quoted(d.train)), ("heldout", d.heldout.map(quoted) ?? "null"),
            ("heldout_fraction", d.heldoutFraction.map { "\($0)" } ?? "null"), ("format", d.format.rawValue),
            ("loss_on", d.lossOn.rawValue), ("sequence_length", "\(d.sequenceLength)"), ("packing", "\(d.packing)"),
            ("truncation", d.truncation.rawValue), ("shuffle", "\(d.shuffle)"), ("on_bad_line", d.onBadLine.rawValue),
        ])
        let t = recipe.train
        var train: [(String, String)] = [
            ("steps", t.steps.map { "\($0)" } ?? "null"), ("epochs", t.epochs.map { "\($0)" } ?? "null"),
            ("batch_size", "\(t.batchSize)"), ("gradient_accumulation", "\(t.gradientAccumulation)"),
            ("lr", "\(t.lr)"), ("schedule", t.schedule.rawValue), ("warmup_steps", "\(t.warmupSteps)"),
            ("weight_decay", "\(t.weightDecay)"), ("adam_beta1", "\(t.adamBeta1)"), ("adam_beta2", "\(t.adamBeta2)"),
            ("adam_eps", "\(t.adamEps)"), ("max_grad_norm", t.maxGradNorm.map { "\($0)" } ?? "null"),
            ("gradient_checkpointing", "\(t.gradientCheckpointing)"),
            ("seed", "\(t.seed)"),
        ]
        if recipe.lora == nil { train.append(("trainable", "[\(t.trainable.map(quoted).joined(separator: ", "))]")) }
        train.append(("threads", t.threads.map { "\($0)" } ?? "null"))
        section("train", train, comment: "\(t.batchSize) batch × \(t.gradientAccumulation) accumulation × \(d.sequenceLength) tokens = \(recipe.tokensPerOptimizerStep) tokens per optimizer step")
        let o = recipe.output
        section("output", [
            ("dir", quoted(o.dir)), ("checkpoint_every", "\(o.checkpointEvery)"), ("log_every", "\(o.logEvery)"),
        ])
        let e = recipe.eval
        section("eval", [
            ("every", "\(e.every)"), ("at_start", "\(e.atStart)"), ("max_samples", e.maxSamples.map { "\($0)" } ?? "null"),
            ("generate", "\(e.generate)"), ("max_new_tokens", "\(e.maxNewTokens)"), ("report", "\(e.report)"),
            ("task", e.task.rawValue), ("target_accuracy", "\(e.targetAccuracy)"),
        ])
        if let x = recipe.export {
            section("export", [
                ("format", x.format.rawValue), ("quant", x.quants.count == 1 ? x.quants[0].rawValue : "[\(x.quants.map(\.rawValue).joined(separator: ", "))]"),
                ("dtype", x.dtype.rawValue),
                ("path", x.path.map(quoted) ?? "null"), ("verify", "\(x.verify)"),
            ])
        }
        if let d = recipe.distillation { out += distillationYAML(d) }
        return out
    }

    /// A YAML double-quoted string, so that no path or name is read back as a number, a boolean or null.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
