// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "slm",
    products: [
        .executable(name: "slm", targets: ["slm"]),
        .library(name: "SLMTensor", targets: ["SLMTensor"]),
        .library(name: "SLMModel", targets: ["SLMModel"]),
        .library(name: "SLMTraining", targets: ["SLMTraining"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .target(name: "SLMTensor", dependencies: ["CBLAS"]),
        .target(name: "SLMModel", dependencies: ["SLMTensor"]),
        .target(name: "SLMTraining", dependencies: ["SLMTensor", "SLMModel"]),
        .target(name: "SLMBenchmarks", dependencies: ["SLMTensor", "SLMModel"]),
        .executableTarget(
            name: "slm",
            dependencies: [
                "SLMTensor", "SLMModel", "SLMBenchmarks", "CBLAS", "CHDF5",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(name: "SLMTestSupport", dependencies: ["SLMTensor"], path: "Tests/SLMTestSupport"),
        .testTarget(name: "SLMTensorTests", dependencies: ["SLMTensor", "SLMTestSupport"]),
        .testTarget(name: "SLMModelTests", dependencies: ["SLMModel", "SLMTensor", "SLMTestSupport"]),
        .testTarget(name: "SLMTrainingTests", dependencies: ["SLMTraining", "SLMTensor", "SLMTestSupport"]),
        .testTarget(name: "NativeLibraryTests", dependencies: ["CHDF5"]),
    ]
)
