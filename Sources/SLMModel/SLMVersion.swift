/// slm's version, as `slm --version` prints it and reports record it.
public enum SLMVersion {
    public static let current = "0.1.0"
}
