/// The spec's `train.data`: which files hold the images and labels, and how each image is
/// prepared before the network sees it.
///
/// ```yaml
/// data: {format: mnist, path: data/mnist, scale: 0.00390625}
/// data: {format: npy, train: {images: x.npy, labels: y.npy}, test: {images: tx.npy, labels: ty.npy}}
/// data: {format: npy, train: train.npz, test: test.npz}
/// data: {format: folder, train: pictures/train, test: pictures/test}
/// data: {format: cifar, train: [data_batch_1.bin, data_batch_2.bin], test: test_batch.bin}
/// data: {format: idx, train: {images: a-idx3-ubyte.gz, labels: b-idx1-ubyte.gz}, test: {...}}
/// ```
public struct DataSource: Sendable, Equatable {
  public enum Format: String, Sendable, CaseIterable {
    case mnist, npy, folder, cifar, idx
  }

  /// The files of one split, as written (relative paths are relative to the spec's folder).
  public struct Split: Sendable, Equatable {
    /// The image files: one `.npy`/IDX file, an `.npz`, a folder, or CIFAR batch files.
    public var images: [String]
    /// The labels' file, for formats that keep labels apart from images.
    public var labels: String?

    public init(images: [String], labels: String? = nil) {
      self.images = images
      self.labels = labels
    }
  }

  /// How the stored images' axes are ordered (`.npy` and IDX files with channels).
  public enum Layout: String, Sendable {
    case nchw, nhwc
  }

  public var format: Format
  /// `format: mnist`: the folder holding the four MNIST files.
  public var path: String?
  public var train: Split?
  public var test: Split?
  /// How values become the network's input, and the training-only augmentation.
  public var preprocessing: Preprocessing
  public var layout: Layout
  /// `format: folder`: images are resized to this (height, width); nil: they must fit as they are.
  public var resize: Pair?
  /// `format: cifar`: 10 (one label byte per record) or 100 (coarse and fine label bytes).
  public var cifarClasses: Int
  /// CIFAR-100: train on the coarse (20) labels instead of the fine (100) ones.
  public var cifarCoarseLabels: Bool
  /// The fraction of the training split held out (seeded) and evaluated after every epoch.
  public var validation: Double?
  /// Where `data:` is in the spec: problems found in the files against the network point here.
  public var location: SourceLocation

  public init(
    format: Format, path: String? = nil, train: Split? = nil, test: Split? = nil,
    preprocessing: Preprocessing = Preprocessing(), layout: Layout = .nchw, resize: Pair? = nil,
    cifarClasses: Int = 10, cifarCoarseLabels: Bool = false, validation: Double? = nil,
    location: SourceLocation = SourceLocation(line: 1, column: 1)
  ) {
    self.format = format
    self.path = path
    self.train = train
    self.test = test
    self.preprocessing = preprocessing
    self.layout = layout
    self.resize = resize
    self.cifarClasses = cifarClasses
    self.cifarCoarseLabels = cifarCoarseLabels
    self.validation = validation
    self.location = location
  }

  /// Each pixel value is multiplied by this before `mean` and `std` apply.
  public var scale: Float { preprocessing.scale }
}

extension DataSource {
  static let commonKeys = [
    "format", "scale", "mean", "std", "random_crop", "horizontal_flip", "validation",
  ]
  static let formatKeys: [Format: [String]] = [
    .mnist: ["path"], .npy: ["train", "test", "layout"], .folder: ["train", "test", "resize"],
    .cifar: ["train", "test", "cifar", "label"], .idx: ["train", "test", "layout"],
  ]

  /// Reads `train.data`, reporting every problem at its place; nil when it has errors.
  static func read(_ node: YAMLNode, _ diagnostics: inout DiagnosticList) -> DataSource? {
    guard var keys = TrainSpec.mapping(node, "train.data", &diagnostics) else { return nil }
    let name = keys.choice(
      "format", among: Format.allCases.map(\.rawValue), default: nil)
    let format = Format(rawValue: name) ?? .mnist
    let own = formatKeys[format] ?? []
    for key in formatKeys.values.joined() where !own.contains(key) && keys.has(key) {
      keys.report("'\(key)' is not a setting of format \(format.rawValue)", at: key)
    }
    keys.rejectUnknownKeys(keys: commonKeys + Array(Set(formatKeys.values.joined())).sorted())
    var source = DataSource(format: format, location: node.location)
    if format == .mnist {
      source.path = keys.name("path")
      if !keys.has("path") { keys.report("missing required key 'path'", at: "path") }
    } else {
      source.train = readSplit("train", format, &keys)
      if !keys.has("train") { keys.report("missing required key 'train'", at: "train") }
      source.test = keys.has("test") ? readSplit("test", format, &keys) : nil
    }
    source.preprocessing = readPreprocessing(&keys)
    if keys.has("layout") {
      source.layout =
        Layout(rawValue: keys.choice("layout", among: ["nchw", "nhwc"], default: nil))
        ?? .nchw
    }
    if keys.has("resize") { source.resize = keys.pair("resize", in: 1...Limits.maximumSize) }
    if format == .cifar {
      source.cifarClasses = keys.integer("cifar", default: 10, in: 10...100)
      if source.cifarClasses != 10 && source.cifarClasses != 100 {
        keys.report("'cifar' must be 10 or 100, found \(source.cifarClasses)", at: "cifar")
      }
      let label = keys.choice("label", among: ["fine", "coarse"], default: "fine")
      if keys.has("label") && source.cifarClasses != 100 {
        keys.report("'label' chooses between CIFAR-100's labels; give cifar: 100", at: "label")
      }
      source.cifarCoarseLabels = label == "coarse"
    }
    if keys.has("validation") {
      source.validation = keys.number("validation", requirement: "between 0 and 1 (exclusive)") {
        $0 > 0 && $0 < 1
      }
    }
    diagnostics.append(contentsOf: keys.diagnostics)
    return keys.diagnostics.hasErrors ? nil : source
  }

  /// A split: a path (an `.npz`, a folder, a CIFAR file), a list of paths (CIFAR), or
  /// `{images, labels}` (`.npy`, IDX).
  private static func readSplit(_ key: String, _ format: Format, _ keys: inout KeyReader)
    -> Split?
  {
    guard let node = keys.node[key] else { return nil }
    let expected: String
    switch format {
    case .npy: expected = "{images: x.npy, labels: y.npy} or one .npz file"
    case .idx: expected = "{images: FILE, labels: FILE}"
    case .folder: expected = "a folder with one subfolder per class"
    default: expected = "a file or a list of files"
    }
    switch node.content {
    case .scalar(let text, _) where format != .idx && !text.isEmpty:
      return Split(images: [text])
    case .sequence(let items) where format == .cifar && !items.isEmpty:
      let paths = items.compactMap { item -> String? in
        guard let text = item.scalarText, !text.isEmpty else {
          keys.report("'\(key)' must list file names, found \(item.kindDescription)", at: key)
          return nil
        }
        return text
      }
      return paths.count == items.count ? Split(images: paths) : nil
    case .mapping where format == .npy || format == .idx:
      var pair = KeyReader(node: node, subject: "train.data.\(key)")
      pair.rejectUnknownKeys(keys: ["images", "labels"])
      let images = pair.name("images")
      let labels = pair.name("labels")
      for name in ["images", "labels"] where !pair.has(name) {
        pair.report("missing required key '\(name)'", at: name)
      }
      keys.diagnostics.append(contentsOf: pair.diagnostics)
      guard let images, let labels else { return nil }
      return Split(images: [images], labels: labels)
    default:
      keys.report(
        "'\(key)' must be \(expected) for format \(format.rawValue), found \(node.kindDescription)",
        at: key)
      return nil
    }
  }

  private static func readPreprocessing(_ keys: inout KeyReader) -> Preprocessing {
    var preprocessing = Preprocessing()
    preprocessing.scale = Float(
      keys.number("scale", default: 1, requirement: "a positive number") { $0 > 0 })
    preprocessing.mean = numbers("mean", &keys, requirement: "finite") { _ in true }
    preprocessing.std = numbers("std", &keys, requirement: "positive") { $0 > 0 }
    if !preprocessing.mean.isEmpty && !preprocessing.std.isEmpty
      && preprocessing.mean.count != preprocessing.std.count
    {
      keys.report(
        "'mean' has \(preprocessing.mean.count) values but 'std' has \(preprocessing.std.count)",
        at: "std")
    }
    if let node = keys.node["random_crop"] {
      if case .mapping = node.content {
        var crop = KeyReader(node: node, subject: "train.data.random_crop")
        crop.rejectUnknownKeys(keys: ["size", "pad"])
        let size = crop.has("size") ? crop.positive("size") : nil
        let pad = crop.integer("pad", default: 0, in: 0...4096)
        keys.diagnostics.append(contentsOf: crop.diagnostics)
        preprocessing.randomCrop = .init(size: size, pad: pad, location: node.location)
      } else {
        keys.report(
          "'random_crop' must be a mapping {size, pad}, found \(node.kindDescription)",
          at: "random_crop")
      }
    }
    preprocessing.horizontalFlip = keys.boolean("horizontal_flip", default: false)
    return preprocessing
  }

  /// A number or a list of numbers (one per channel); empty when absent.
  private static func numbers(
    _ key: String, _ keys: inout KeyReader, requirement: String, isValid: (Double) -> Bool
  ) -> [Float] {
    guard let node = keys.node[key] else { return [] }
    let items: [YAMLNode]
    if case .sequence(let list) = node.content { items = list } else { items = [node] }
    var values: [Float] = []
    for item in items {
      guard case .scalar(let text, plain: true) = item.content, let number = Double(text),
        number.isFinite, !text.lowercased().contains("n"), isValid(number)
      else {
        keys.report(
          "'\(key)' must be a \(requirement) number or a list of them, one per channel, found "
            + item.kindDescription, at: key)
        return []
      }
      values.append(Float(number))
    }
    if values.isEmpty { keys.report("'\(key)' must not be an empty list", at: key) }
    return values
  }
}
