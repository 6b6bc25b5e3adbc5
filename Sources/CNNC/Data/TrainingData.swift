import Foundation

/// The data a spec's `train.data` names, opened and checked against the network: images of its
/// input's shape, every label one of its outputs, the preprocessing fitting its channels.
public struct TrainingData: Sendable {
  public var train: any ImageDataset
  /// The held-out part of the training files (`validation:`), evaluated after every epoch.
  public var validation: (any ImageDataset)?
  public var test: (any ImageDataset)?
  /// `format: folder`: the class names, in class-index order.
  public var classNames: [String]
  /// How the training samples are prepared (evaluation leaves out the augmentation).
  public var preprocessing: Preprocessing

  public init(
    train: any ImageDataset, validation: (any ImageDataset)? = nil, test: (any ImageDataset)? = nil,
    classNames: [String] = [], preprocessing: Preprocessing = Preprocessing()
  ) {
    self.train = train
    self.validation = validation
    self.test = test
    self.classNames = classNames
    self.preprocessing = preprocessing
  }

  /// Opens the data of `network`'s spec (read from `specPath`, whose folder relative paths
  /// start from). Errors name the file and the problem; those the spec must fix point into it.
  public init(for network: InferredNetwork, specPath: String) throws(SessionError) {
    guard let source = network.train?.data else {
      throw SessionError(
        "\(specPath): the spec has no train: section, which names the data to run on")
    }
    let at = (specPath, source.location)
    if let problem = source.preprocessing.problem(for: network.input) {
      throw SessionError("train.data: \(problem)", location: at)
    }
    if let resize = source.resize,
      resize != Pair(height: network.input.height, width: network.input.width)
    {
      throw SessionError(
        "train.data: resize \(resize) must be the input's size "
          + "(\(network.input.height)×\(network.input.width))", location: at)
    }
    let classes = network.layers.last?.output?.elementCount ?? 0
    let path = { (file: String) in Self.resolve(file, specPath: specPath) }
    var classNames: [String] = []
    func open(_ split: DataSource.Split) throws(DataError) -> any ImageDataset {
      let files = split.images.map(path)
      switch source.format {
      case .mnist:
        preconditionFailure("MNIST is opened by MNIST(folder:)")
      case .npy:
        if let labels = split.labels {
          return try NumPyImages(
            images: files[0], labels: path(labels), layout: source.layout, classes: classes)
        }
        return try NumPyImages(archive: files[0], layout: source.layout, classes: classes)
      case .idx:
        return try LabelledImages(
          idxImages: files[0], labels: path(split.labels ?? ""), layout: source.layout,
          classes: classes)
      case .cifar:
        return try CIFARImages(
          files: files, cifar: source.cifarClasses, coarse: source.cifarCoarseLabels,
          networkClasses: classes)
      case .folder:
        let folder = try ImageFolder(classes: files[0], shape: network.input, resize: source.resize)
        if classNames.isEmpty {
          guard folder.classNames.count <= classes else {
            throw DataError(
              file: files[0],
              "has \(folder.classNames.count) class folders but the network has \(classes) outputs")
          }
          classNames = folder.classNames
        } else if folder.classNames != classNames {
          let missing = Set(folder.classNames).subtracting(classNames).sorted()
          throw DataError(
            file: files[0],
            "its class folders differ from the training folder's"
              + (missing.isEmpty ? "" : " (not in training: \(missing.joined(separator: ", ")))"))
        }
        return folder
      }
    }
    var train: any ImageDataset
    var test: (any ImageDataset)?
    do {
      if source.format == .mnist {
        let mnist = try MNIST(for: network, specPath: specPath)
        (train, test) = (mnist.train, mnist.test)
      } else {
        guard let trainSplit = source.train else {
          throw SessionError("train.data: no training files", location: at)
        }
        train = try open(trainSplit)
        test = try source.test.map { (split) throws(DataError) in try open(split) }
      }
    } catch let error as DataError {
      throw SessionError(error.description)
    } catch let error as SessionError {
      throw error
    } catch {
      throw SessionError("\(error)")
    }
    for (what, data) in [("training", train), ("test", test)] {
      guard let data, data.imageShape != network.input else { continue }
      throw SessionError(
        "the network's input \(network.input) does not fit the \(what) data's "
          + "\(data.imageShape) images (\(data.name(of: 0)))",
        location: (specPath, network.inputLocation))
    }
    var validation: (any ImageDataset)?
    if let fraction = source.validation {
      guard train.count >= 2 else {
        throw SessionError(
          "train.data: validation needs at least 2 training images, there are \(train.count)",
          location: at)
      }
      let parts = DatasetSubset.holdOut(fraction, of: train, seed: network.train?.seed ?? 1)
      (train, validation) = (parts.kept, parts.heldOut)
    }
    self.init(
      train: train, validation: validation, test: test, classNames: classNames,
      preprocessing: source.preprocessing)
  }

  /// The files and folders a spec's `train.data` names, resolved as the readers resolve them
  /// (MNIST: the four files in its folder, gzipped or not): what no output may overwrite.
  public static func files(of network: InferredNetwork, specPath: String) -> [String] {
    guard let source = network.train?.data else { return [] }
    if source.format == .mnist {
      guard let folder = MNIST.folder(for: network, specPath: specPath) else { return [] }
      return [
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
      ].flatMap { name in
        [folder + "/" + name, folder + "/" + name + ".gz"]
      }
    }
    return [source.train, source.test].compactMap { $0 }.flatMap { split in
      (split.images + [split.labels].compactMap { $0 }).map { resolve($0, specPath: specPath) }
    }
  }

  /// `file` as written in a spec at `specPath`: relative to the spec's folder.
  public static func resolve(_ file: String, specPath: String) -> String {
    if file.hasPrefix("/") { return file }
    return URL(fileURLWithPath: specPath).deletingLastPathComponent().path + "/" + file
  }
}
