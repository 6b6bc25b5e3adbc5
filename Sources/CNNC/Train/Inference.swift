import Foundation

/// Inference with a checkpoint over a set of images, as `cnnc run --weights` runs it: the
/// images of a path chosen by what the path is, the checkpoint checked against the network,
/// and the outputs written with the names of their rows beside them.
public enum Inference {
  /// What a run over a set of images found.
  public struct Result: Sendable {
    public var images: Int
    /// Correct predictions; nil when the images have no labels.
    public var correct: Int?
    /// The final layer's outputs, `images` rows of K, when they were asked for.
    public var outputs: [Float]
    public var seconds: Double

    public var accuracy: Double? { correct.map { Double($0) / Double(images) } }
    public var imagesPerSecond: Double { Double(images) / seconds }
  }

  /// The images at `path`: a `.npy` array (in the spec's layout, NCHW by default), or else a
  /// folder of PNG and JPEG files, read at the network's input size (resized as the spec says).
  public static func images(at path: String, for network: InferredNetwork) throws(DataError)
    -> any ImageDataset
  {
    if path.hasSuffix(".npy") {
      return try NumPyImages(
        images: path, labels: nil, layout: network.train?.data.layout ?? .nchw, classes: 0)
    }
    return try ImageFolder(
      unlabelled: path, shape: network.input, resize: network.train?.data.resize)
  }

  /// Runs `network` with the checkpoint at `weights` over `data`, each image prepared by
  /// `preprocessing`; keeps the outputs when `keepOutputs`.
  public static func run(
    _ network: InferredNetwork, weights: String, over data: any ImageDataset,
    preprocessing: Preprocessing, keepOutputs: Bool
  ) throws -> Result {
    try check(data, fits: network)
    let file = try SafeTensors.read(weights)
    if QuantizedNetwork.isCheckpoint(file) {
      return try runInt8(
        QuantizedNetwork(network, checkpoint: file, path: weights), over: data,
        preprocessing: preprocessing, keepOutputs: keepOutputs)
    }
    let evaluator = try Evaluator(network: network)
    let values = try Checkpoints.values(
      of: file, path: weights, evaluator.parameters, floats: evaluator.parameterFloats)
    let start = Date()
    let (correct, outputs) = try evaluator.run(
      weights: values, data: data, preprocessing: preprocessing, keepOutputs: keepOutputs)
    let labelled = data.count > 0 && data.label(of: 0) >= 0
    return Result(
      images: data.count, correct: labelled ? correct : nil, outputs: outputs,
      seconds: Date().timeIntervalSince(start))
  }

  /// An int8 checkpoint's network over `data` on the int8 kernels, 64 images at a time.
  static func runInt8(
    _ network: QuantizedNetwork, over data: any ImageDataset, preprocessing: Preprocessing,
    keepOutputs: Bool
  ) throws -> Result {
    let start = Date()
    let executor = try Int8Executor(
      network, batch: 64,
      isa: try KernelISA.fromEnvironment(
        ProcessInfo.processInfo.environment))
    let classes = network.plan.outputFloats
    var (correct, outputs) = (0, [Float]())
    for first in stride(from: 0, to: data.count, by: executor.batch) {
      let indices = Array(first..<min(first + executor.batch, data.count))
      let images = try QuantizationReport.images(
        of: data, indices, preprocessing: preprocessing, shape: network.plan.network.input)
      let scores = executor.run(images.flatMap { $0 })
      for (row, index) in indices.enumerated() {
        let output = scores[(row * classes)..<((row + 1) * classes)]
        if let best = output.indices.max(by: { output[$0] < output[$1] }),
          best - row * classes == data.label(of: index)
        {
          correct += 1
        }
      }
      if keepOutputs { outputs += scores }
    }
    let labelled = data.count > 0 && data.label(of: 0) >= 0
    return Result(
      images: data.count, correct: labelled ? correct : nil, outputs: outputs,
      seconds: Date().timeIntervalSince(start))
  }

  /// Throws unless `data`'s images have the network's input shape.
  public static func check(_ data: any ImageDataset, fits network: InferredNetwork)
    throws(TrainingError)
  {
    guard data.imageShape == network.input else {
      throw TrainingError(
        message: "the images are \(data.imageShape) but the network's input is \(network.input)")
    }
  }

  /// Where the names of the output rows go: beside the outputs, `<output>.files.txt`.
  public static func rowNamesPath(for output: String) -> String { output + ".files.txt" }

  /// Writes `result`'s outputs at `path` as an (images, K) float32 `.npy` and, with
  /// `namingRows`, which image each row is (a file's path, or an array's row) beside it. Both
  /// or neither: the rows without their names would be misread.
  public static func writeOutputs(
    of result: Result, _ data: any ImageDataset, to path: String, namingRows: Bool
  ) throws(CheckpointError) {
    let columns = result.images > 0 ? result.outputs.count / result.images : 0
    var files = [
      (
        bytes: NumPyFile.encoded(rows: result.images, columns: columns, values: result.outputs),
        path: path
      )
    ]
    if namingRows {
      let names = (0..<data.count).map { data.name(of: $0) + "\n" }.joined()
      files.append((Array(names.utf8), rowNamesPath(for: path)))
    }
    try OutputFile.writeAll(files)
  }
}
