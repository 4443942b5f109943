import SLMTensor
import Yams

extension Recipe {
    /// The `distillation:` section: where the teacher's top-k come from and how the student learns
    /// from them. docs/recipes.md documents each key.
    public struct DistillationSection: Sendable, Equatable {
        public var teacher: TeacherSection
        /// The HDF5 teacher cache (docs/teacher-cache.md); filled by `slm teacher`, or by `slm train` first.
        public var cache: String
        /// Teacher candidates kept per position.
        public var k = 20
        /// The teacher's softmax temperature for the cached log-probabilities (a cache attribute).
        public var teacherTemperature = 1.0
        public var loss: Loss = .forwardKL
        /// JSD's β (loss: jsd): 0 is forward KL, 1 reverse KL.
        public var beta: Float = 0.5
        /// Distillation temperature T: both distributions softened by T, the divergence scaled by T².
        public var temperature: Float = 1
        /// Weight of cross-entropy on the labels; the divergence gets 1 − alpha.
        public var alpha: Float = 0.5
        public var tail: Tail = .tailBucket

        public init(teacher: TeacherSection, cache: String) {
            self.teacher = teacher
            self.cache = cache
        }

        /// The loss head's settings for this section.
        public var lossHead: LossHeadConfig {
            let divergence: Divergence
            switch loss {
            case .forwardKL: divergence = .forwardKL
            case .reverseKL: divergence = .reverseKL
            case .jsd: divergence = .jsd(beta: beta)
            }
            return LossHeadConfig(ceWeight: alpha, kdWeight: 1 - alpha, temperature: temperature, divergence: divergence)
        }

        public var topKTail: TopKTail { tail == .renormalized ? .renormalized : .tailBucket }
    }

    /// A local teacher: any model slm loads.
    public struct TeacherSection: Sendable, Equatable {
        /// A Hugging Face folder or a .gguf file.
        public var model: String
        /// A PEFT adapter folder applied to it; nil: none.
        public var adapter: String?
        /// Keep GGUF weights quantized in memory.
        public var keepQuantized = false

        public init(model: String) { self.model = model }
    }

    public enum Loss: String, Sendable, CaseIterable {
        case forwardKL = "forward_kl", reverseKL = "reverse_kl", jsd
    }

    public enum Tail: String, Sendable, CaseIterable {
        /// Student and teacher renormalised over the teacher's k ids.
        case renormalized
        /// k + 1 buckets: the k ids and the rest of the vocabulary as one.
        case tailBucket = "tail_bucket"
    }
}

extension RecipeReader {
    static func distillation(_ s: RecipeSectionReader) -> Recipe.DistillationSection {
        let t = s.section("teacher")
        var model: String?
        t.string("model", &model)
        var teacher = Recipe.TeacherSection(model: model ?? "")
        t.string("adapter", &teacher.adapter)
        t.bool("keep_quantized", &teacher.keepQuantized)
        var cache: String?
        s.string("cache", &cache)
        var d = Recipe.DistillationSection(teacher: teacher, cache: cache ?? "")
        s.int("k", &d.k, ValueRange(lower: 1, upper: 4096, upperIncluded: true))
        s.number("teacher_temperature", &d.teacherTemperatureOptional, .above(0))
        s.choice("loss", &d.loss)
        s.number("beta", &d.beta, ValueRange(lower: 0, upper: 1, upperIncluded: true))
        s.number("temperature", &d.temperature, .above(0))
        s.number("alpha", &d.alpha, ValueRange(lower: 0, upper: 1, upperIncluded: true))
        s.choice("tail", &d.tail)
        if s.isPresent {
            require(s, "cache", "the HDF5 teacher cache file (created if missing)")
            if !s.isGiven("teacher") {
                s.logProblem("teacher", "missing: give teacher.model, the local teacher model")
            } else if case .mapping? = s.value("teacher") {
                require(t, "model", "the teacher: a Hugging Face model folder or a .gguf file")
                checkExists(t, "model", model, "file or folder")
                checkExists(t, "adapter", teacher.adapter, "folder")
            }
            if s.isGiven("beta"), d.loss != .jsd { s.logProblem("beta", "only applies to loss: jsd") }
        }
        t.logUnknownKeys(otherSections: [])
        return d
    }
}

extension Recipe.DistillationSection {
    /// `teacher_temperature` through an optional, for the reader.
    var teacherTemperatureOptional: Double? {
        get { teacherTemperature }
        set { if let newValue { teacherTemperature = newValue } }
    }
}

extension RecipeWriter {
    static func distillationYAML(_ d: Recipe.DistillationSection) -> String {
        var out = "\ndistillation:\n"
        out += "  teacher:\n"
        out += "    model: \(quoted(d.teacher.model))\n"
        out += "    adapter: \(d.teacher.adapter.map(quoted) ?? "null")\n"
        out += "    keep_quantized: \(d.teacher.keepQuantized)\n"
        out += "  cache: \(quoted(d.cache))\n"
        out += "  k: \(d.k)\n"
        out += "  teacher_temperature: \(d.teacherTemperature)\n"
        out += "  loss: \(d.loss.rawValue)\n"
        if d.loss == .jsd { out += "  beta: \(d.beta)\n" }
        out += "  temperature: \(d.temperature)\n"
        out += "  alpha: \(d.alpha)\n"
        out += "  tail: \(d.tail.rawValue)\n"
        return out
    }
}
