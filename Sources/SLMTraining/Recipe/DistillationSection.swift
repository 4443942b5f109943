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

    /// The teacher: a local model (any model slm loads), or an OpenAI-compatible API (`api`).
    public struct TeacherSection: Sendable, Equatable {
        /// A Hugging Face folder or a .gguf file; empty when the teacher is an API.
        public var model: String
        /// A PEFT adapter folder applied to it; nil: none.
        public var adapter: String?
        /// Keep GGUF weights quantized in memory.
        public var keepQuantized = false
        /// An OpenAI-compatible server that scores the dataset's text; nil: the local `model`.
        public var api: APITeacherSection?

        public init(model: String) { self.model = model }
    }

    /// `teacher.api`: the server, the teacher's name there, and the NAME of the environment variable
    /// that holds the key (never the key itself). docs/teacher-api.md describes the client.
    public struct APITeacherSection: Sendable, Equatable {
        public var baseURL: String
        public var model: String
        /// nil: no key (a local server).
        public var apiKeyEnv: String?
        /// Requests in flight at most.
        public var concurrency = 4
        /// Seconds a request may take before it is abandoned and retried.
        public var timeout = 120.0
        /// Retries of one request (429, 5xx, timeouts, dropped connections, unreadable bodies).
        public var maxRetries = 6
        /// Where the teacher's targets come from: the dataset's own text scored (`echo`), replies the
        /// teacher writes (`generate`), or whichever the server can do (`auto`). Default echo.
        public var mode: APITeacherMode = .echo
        /// generate: new tokens per teacher-written reply at most. Default 256.
        public var maxTokens = 256
        /// generate: the teacher's sampling temperature. Default 0 (its most likely reply).
        public var temperature = 0.0

        public init(baseURL: String, model: String) {
            self.baseURL = baseURL
            self.model = model
        }
    }

    public enum APITeacherMode: String, Sendable, CaseIterable {
        /// `/completions` with `echo`: the teacher scores each training sample's own text.
        case echo
        /// `/chat/completions`: the teacher writes the reply to each sample's prompt, and the student
        /// learns that text (sequence-level distillation) with the teacher's top-k where its tokens map.
        case generate
        /// echo when the server really scores the text it is sent, else generate (said at the start).
        case auto
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
        let a = t.section("api")
        if a.isPresent { teacher.api = apiTeacher(a) }
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
                s.logProblem("teacher", "missing: give teacher.model (a local model) or teacher.api (an OpenAI-compatible server)")
            } else if a.isPresent {
                for key in ["model", "adapter", "keep_quantized"] where t.isGiven(key) {
                    t.logProblem(key, "applies to a local teacher; this teacher is teacher.api")
                }
                if d.k > 20 { s.logProblem("k", "an API teacher returns at most 20 candidates per position (top_logprobs), got \(d.k)") }
                if d.teacherTemperature != 1 {
                    s.logProblem("teacher_temperature", "an API teacher's log-probabilities are at temperature 1; leave teacher_temperature at 1")
                }
            } else if case .mapping? = s.value("teacher") {
                require(t, "model", "the teacher: a Hugging Face model folder or a .gguf file (or teacher.api for a server)")
                checkExists(t, "model", model, "file or folder")
                checkExists(t, "adapter", teacher.adapter, "folder")
            }
            if s.isGiven("beta"), d.loss != .jsd { s.logProblem("beta", "only applies to loss: jsd") }
        }
        a.logUnknownKeys(otherSections: [])
        t.logUnknownKeys(otherSections: [a])
        return d
    }

    private static func apiTeacher(_ a: RecipeSectionReader) -> Recipe.APITeacherSection {
        var baseURL: String?, model: String?
        a.string("base_url", &baseURL)
        a.string("model", &model)
        var api = Recipe.APITeacherSection(baseURL: baseURL ?? "", model: model ?? "")
        a.string("api_key_env", &api.apiKeyEnv)
        a.int("concurrency", &api.concurrency, ValueRange(lower: 1, upper: 256, upperIncluded: true))
        var timeout: Double? = api.timeout
        a.number("timeout", &timeout, .above(0))
        api.timeout = timeout ?? api.timeout
        a.int("max_retries", &api.maxRetries, ValueRange(lower: 0, upper: 100, upperIncluded: true))
        a.choice("mode", &api.mode)
        a.int("max_tokens", &api.maxTokens, ValueRange(lower: 1, upper: 32768, upperIncluded: true))
        var temperature: Double? = api.temperature
        a.number("temperature", &temperature, ValueRange(lower: 0, upper: 2, upperIncluded: true))
        api.temperature = temperature ?? api.temperature
        if api.mode == .echo {
            for key in ["max_tokens", "temperature"] where a.isGiven(key) {
                a.logProblem(key, "applies to teacher-written replies (mode: generate or auto); this teacher scores the dataset's text (mode: echo)")
            }
        }
        require(a, "base_url", "the server's API root, e.g. http://127.0.0.1:8080/v1")
        require(a, "model", "the teacher's model name on the server")
        if let baseURL, !(baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://")) {
            a.logProblem("base_url", "must start with http:// or https://, got \(baseURL)")
        }
        return api
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
        if let api = d.teacher.api {
            out += "    api:\n"
            out += "      base_url: \(quoted(api.baseURL))\n"
            out += "      model: \(quoted(api.model))\n"
            out += "      api_key_env: \(api.apiKeyEnv.map(quoted) ?? "null")\n"
            out += "      concurrency: \(api.concurrency)\n"
            out += "      timeout: \(api.timeout)\n"
            out += "      max_retries: \(api.maxRetries)\n"
            out += "      mode: \(api.mode.rawValue)\n"
            if api.mode != .echo {
                out += "      max_tokens: \(api.maxTokens)\n"
                out += "      temperature: \(api.temperature)\n"
            }
        } else {
            out += "    model: \(quoted(d.teacher.model))\n"
            out += "    adapter: \(d.teacher.adapter.map(quoted) ?? "null")\n"
            out += "    keep_quantized: \(d.teacher.keepQuantized)\n"
        }
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
