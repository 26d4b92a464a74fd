// swift-tools-version: 6.1
// KroneckerBERT in Swift. Layers import downward only:
//   CKBLAS, CKBKernels (C) -> KBTensor -> KBLayers, KBSafeTensors, KBTokenizer -> KBBert -> kbert (CLI)
import PackageDescription

let optimize: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
    name: "KroneckerBERT",
    products: [
        .executable(name: "kbert", targets: ["kbert"]),
        .library(name: "KBBert", targets: ["KBBert"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C shim over Debian's OpenBLAS (CBLAS) and LAPACKE. Found through pkg-config.
        .systemLibrary(
            name: "CKBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // Element-wise / row-wise float kernels as plain C loops that clang vectorizes.
        .target(
            name: "CKBKernels",
            cSettings: [.unsafeFlags(["-O3", "-mavx2", "-mfma", "-fno-math-errno", "-ffp-contract=fast"])]
        ),
        // Float32 tensors and kernels. The only target that calls BLAS.
        .target(name: "KBTensor", dependencies: ["CKBLAS", "CKBKernels"], swiftSettings: optimize),
        // SafeTensors reader / writer.
        .target(name: "KBSafeTensors", dependencies: ["KBTensor"], swiftSettings: optimize),
        // HF-exact BERT WordPiece tokenizer.
        .target(name: "KBTokenizer", swiftSettings: optimize),
        // Layers with explicit forward and backward side by side, and losses.
        .target(name: "KBLayers", dependencies: ["KBTensor", "CKBKernels"], swiftSettings: optimize),
        // The BERT model: config, strict weight loading, forward and backward passes, heads.
        .target(name: "KBBert", dependencies: ["KBTensor", "KBLayers", "KBSafeTensors"], swiftSettings: optimize),
        // Kronecker compression: nearest Kronecker product, Kronecker layers, plans.
        .target(name: "KBCompress", dependencies: ["KBTensor", "KBLayers", "KBBert"], swiftSettings: optimize),
        // Distillation: loss terms (the two-stage loops come with issue 6).
        .target(name: "KBDistill", dependencies: ["CKBKernels", "KBTensor", "KBLayers", "KBBert"], swiftSettings: optimize),
        // Task data (GLUE readers, batching) and metrics.
        .target(name: "KBData", dependencies: ["KBTensor", "KBTokenizer"], swiftSettings: optimize),
        // Training: optimizer, schedules, loops, checkpoints.
        .target(name: "KBTrain", dependencies: ["CKBKernels", "KBTensor", "KBLayers", "KBBert", "KBSafeTensors", "KBData", "KBTokenizer", "KBDistill", "KBCompress"],
                swiftSettings: optimize),
        // Command-line program.
        .executableTarget(
            name: "kbert",
            dependencies: [
                "KBTensor", "KBSafeTensors", "KBTokenizer", "KBLayers", "KBBert", "KBCompress", "KBDistill", "KBData", "KBTrain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimize
        ),
        // Scratch folders for the tests' files, removed when the test process exits.
        .target(name: "KBTestSupport", dependencies: ["KBBert"], path: "Tests/KBTestSupport"),
        .testTarget(name: "KBTensorTests", dependencies: ["KBTensor"]),
        .testTarget(name: "KBLayersTests", dependencies: ["KBLayers", "KBTensor"]),
        .testTarget(name: "KBCompressTests", dependencies: ["KBCompress", "KBTensor", "KBLayers", "KBBert", "KBTestSupport"]),
        .testTarget(name: "KBDistillTests", dependencies: ["KBDistill", "KBLayers", "KBSafeTensors", "KBTensor", "KBBert", "KBCompress"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "KBDataTests", dependencies: ["KBData", "KBTokenizer", "KBTensor", "KBTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "KBTrainTests", dependencies: ["KBTrain", "KBBert", "KBLayers", "KBTensor", "KBSafeTensors", "KBTestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "KBSafeTensorsTests", dependencies: ["KBSafeTensors", "KBTensor"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "KBTokenizerTests", dependencies: ["KBTokenizer", "KBTestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "KBBertTests", dependencies: ["KBBert", "KBTensor", "KBSafeTensors", "KBTokenizer", "KBTestSupport"],
                    resources: [.copy("Fixtures")]),
    ]
)
