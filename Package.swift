// swift-tools-version: 6.0
import PackageDescription

// SLMTensor's own SIMD kernels (QuantizedGemv above all) are compiled for AVX2 with FMA and F16C
// on x86-64: Swift has no per-function target attribute, and at the SSE2 baseline the fused
// Q4_1 decode kernel takes ~92 instructions per block of 32 weights and only ties OpenBLAS's
// Float32 sgemv (which picks its kernels for the CPU at run time): SmolLM2-135M decodes at ~41
// tokens/s against ~58 with AVX2. The binary then needs a Haswell-or-later CPU (2013+).
// `-Xcc` because swiftc takes its LLVM target features from the Clang importer's flags.
#if arch(x86_64)
let tensorSettings: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mf16c"])]
#else
let tensorSettings: [SwiftSetting] = []
#endif

let package = Package(
    name: "slm",
    products: [
        .executable(name: "slm", targets: ["slm"]),
        .library(name: "SLMTensor", targets: ["SLMTensor"]),
        .library(name: "SLMModel", targets: ["SLMModel"]),
        .library(name: "SLMTraining", targets: ["SLMTraining"]),
        .library(name: "SLMEvaluation", targets: ["SLMEvaluation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        // Kernels in C, for instructions Swift cannot emit: AMX tiles, AVX-512 (SLMTensor is built for AVX2).
        .target(name: "CKernels"),
        .target(name: "SLMTensor", dependencies: ["CBLAS", "CKernels"], swiftSettings: tensorSettings),
        .target(name: "SLMModel", dependencies: ["SLMTensor"]),
        .target(
            name: "SLMTraining",
            dependencies: ["SLMTensor", "SLMModel", "CHDF5", .product(name: "Yams", package: "Yams")]),
        .target(name: "SLMEvaluation", dependencies: ["SLMTensor", "SLMModel", "SLMTraining"]),
        .target(
            name: "SLMServe",
            dependencies: ["SLMTensor", "SLMModel", .product(name: "Hummingbird", package: "hummingbird")]),
        .target(name: "SLMHub", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "SLMBenchmarks", dependencies: ["SLMTensor", "SLMModel", "SLMTraining"]),
        .executableTarget(
            name: "slm",
            dependencies: [
                "SLMTensor", "SLMModel", "SLMTraining", "SLMEvaluation", "SLMServe", "SLMHub", "SLMBenchmarks", "CBLAS", "CHDF5",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(name: "SLMTestSupport", dependencies: ["SLMTensor"], path: "Tests/SLMTestSupport"),
        .target(name: "LoopbackServer", dependencies: [.product(name: "Hummingbird", package: "hummingbird")], path: "Tests/LoopbackServer"),
        .testTarget(name: "SLMTensorTests", dependencies: ["SLMTensor", "SLMTestSupport"]),
        .testTarget(name: "SLMModelTests", dependencies: ["SLMModel", "SLMTensor", "SLMTestSupport"]),
        .testTarget(name: "SLMTrainingTests", dependencies: ["SLMTraining", "SLMModel", "SLMTensor", "SLMTestSupport"]),
        .testTarget(name: "SLMEvaluationTests", dependencies: ["SLMEvaluation", "SLMTraining", "SLMModel", "SLMTestSupport"]),
        .testTarget(name: "NativeLibraryTests", dependencies: ["CHDF5"]),
        .testTarget(
            name: "TeacherAPITests",
            dependencies: ["slm", "SLMServe", "SLMTraining", "SLMModel", "SLMTestSupport", "LoopbackServer", .product(name: "Hummingbird", package: "hummingbird")]),
        .testTarget(
            name: "SLMHubTests",
            dependencies: ["slm", "SLMHub", "LoopbackServer", .product(name: "Crypto", package: "swift-crypto"), .product(name: "Hummingbird", package: "hummingbird")]),
        .testTarget(name: "CommandLineTests", dependencies: ["slm", "SLMTraining", "SLMTestSupport"]),
    ]
)
