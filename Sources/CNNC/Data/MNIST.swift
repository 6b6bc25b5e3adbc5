import Foundation

/// The MNIST files (LeCun and Cortes's IDX files, gzipped or raw) in one folder.
public struct MNIST: Sendable {
  public var train: LabelledImages
  public var test: LabelledImages

  /// Reads the four files under `folder`, checking that images and labels agree and that every
  /// label is below `classes`.
  public init(folder: String, classes: Int = 10) throws(DataError) {
    train = try Self.split(folder, "train", classes: classes)
    test = try Self.split(folder, "t10k", classes: classes)
  }

  static func split(_ folder: String, _ prefix: String, classes: Int) throws(DataError)
    -> LabelledImages
  {
    let imagesPath = try locate(folder, "\(prefix)-images-idx3-ubyte")
    let labelsPath = try locate(folder, "\(prefix)-labels-idx1-ubyte")
    let images = try IDXReader.read(imagesPath, dimensionCount: 3)
    let labels = try IDXReader.read(labelsPath, dimensionCount: 1)
    guard images.dimensions[0] == labels.dimensions[0] else {
      throw DataError(
        file: labelsPath,
        "has \(labels.dimensions[0]) labels but \(imagesPath) has \(images.dimensions[0]) images")
    }
    if let index = labels.values.firstIndex(where: { Int($0) >= classes }) {
      throw DataError(
        file: labelsPath,
        "label \(labels.values[index]) of image \(index) is not below the \(classes) classes")
    }
    return LabelledImages(
      images: images.values, labels: labels.values, rows: images.dimensions[1],
      columns: images.dimensions[2], origin: imagesPath)
  }

  /// `name.gz` if present, else `name`.
  static func locate(_ folder: String, _ name: String) throws(DataError) -> String {
    let base = (folder as NSString).appendingPathComponent(name)
    for candidate in [base + ".gz", base] where FileManager.default.fileExists(atPath: candidate) {
      return candidate
    }
    throw DataError(file: base + ".gz", "MNIST file not found (looked for \(name).gz and \(name))")
  }
}

extension MNIST {
  /// The data a spec's `train:` section names, a relative `data:` path taken from the folder of
  /// the spec file at `specPath`, checked against the network: every label below its classes,
  /// images of its input's shape (an error located at the spec's `input:` otherwise).
  public init(for network: InferredNetwork, specPath: String) throws(SessionError) {
    guard let path = Self.folder(for: network, specPath: specPath) else {
      throw SessionError(
        "\(specPath): the spec has no train: section, which names the data to run on")
    }
    do {
      self = try MNIST(folder: path, classes: network.layers.last?.output?.elementCount ?? 0)
    } catch {
      throw SessionError(error.description)
    }
    let shape = Shape(channels: train.channels, height: train.rows, width: train.columns)
    guard shape == network.input else {
      throw SessionError(
        "the network's input \(network.input) does not fit the data's \(shape) images (\(path))",
        location: (specPath, network.inputLocation))
    }
  }

  /// The folder the spec's `train.data` names, resolved against the spec file's folder; nil
  /// without a `train:` section.
  public static func folder(for network: InferredNetwork, specPath: String) -> String? {
    guard let data = network.train?.data.path else { return nil }
    return TrainingData.resolve(data, specPath: specPath)
  }
}
