import Foundation

/// The ranks of a multi-process run check that they were started alike before any exchange
/// whose size depends on what they were given: ranks with different specs or options would
/// otherwise exchange buffers of different sizes (a corrupt heap, a crash in MPI, a hang) or
/// train a checkpoint that matches neither configuration.
///
/// Every rank sends the same fixed number of 64-bit slots: a layout tag, then one slot per field
/// (a number as itself, a text as its FNV-1a hash, the same on every host). So the exchange has
/// one size even between different cnnc builds, and the first field that differs is named.
struct RankAgreement {
  /// One thing every rank must have alike.
  struct Field {
    var name: String
    var value: UInt64
    /// How the value reads in a message; nil for a hashed text, whose value means nothing.
    var shown: ((UInt64) -> String)?

    static func integer(_ name: String, _ value: Int) -> Field {
      Field(name: name, value: UInt64(bitPattern: Int64(value))) { String(Int64(bitPattern: $0)) }
    }

    static func real(_ name: String, _ value: Double) -> Field {
      Field(name: name, value: value.bitPattern) { "\(Double(bitPattern: $0))" }
    }

    static func text(_ name: String, _ text: String) -> Field {
      Field(name: name, value: fnv1a(text), shown: nil)
    }
  }

  /// Slot 0 says which layout the rest follows; a build that changes the fields changes it.
  static let layoutTag: UInt64 = 0x636E_6E63_7261_6E01
  static let slots = 48

  var fields: [Field]

  /// Every rank calls this together with its own fields; throws on every rank, naming the
  /// first field that differs and the ranks that differ from rank 0, when they are not alike.
  func check(in group: any ProcessGroup) throws {
    precondition(fields.count < Self.slots, "RankAgreement: more fields than slots")
    var local = [UInt64](repeating: 0, count: Self.slots)
    local[0] = Self.layoutTag
    for (index, field) in fields.enumerated() { local[index + 1] = field.value }
    let all = try group.allGather(local)
    let rank = { (rank: Int) in all[rank * Self.slots..<(rank + 1) * Self.slots] }
    let first = Array(rank(0))
    let differing = (1..<group.size).filter { Array(rank($0)) != first }
    guard let other = differing.first else { return }
    let ranks =
      "rank 0 and rank\(differing.count > 1 ? "s" : "") "
      + differing.map(String.init).joined(separator: ", ")
    let advice = "start every rank with the same spec, data, options and cnnc build"
    let otherSlots = Array(rank(other))
    guard otherSlots[0] == Self.layoutTag, first[0] == Self.layoutTag else {
      throw TrainingError(message: "the ranks run different cnnc builds (\(ranks)); \(advice)")
    }
    let index = (1..<Self.slots).first { first[$0] != otherSlots[$0] }!
    guard index <= fields.count else {
      throw TrainingError(message: "the ranks run different cnnc builds (\(ranks)); \(advice)")
    }
    let field = fields[index - 1]
    let values = field.shown.map { show in
      ": \(show(first[index])) on rank 0, \(show(otherSlots[index])) on rank \(other)"
    }
    throw TrainingError(
      message: "the ranks were not started alike: \(ranks) differ in \(field.name)"
        + (values ?? "") + "; \(advice)")
  }

  /// FNV-1a over the text's UTF-8 bytes: unlike `Hasher`, the same in every process.
  static func fnv1a(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 {
      hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
    }
    return hash
  }
}

extension RankAgreement {
  /// What a trainer's ranks must share: the network and its weights' layout, the options that
  /// decide the batches and the updates, the data, and the kernels.
  static func training(
    network: InferredNetwork, data: any ImageDataset, options: TrainingOptions
  ) -> RankAgreement {
    let isa = options.isa ?? (try? KernelISA.fromEnvironment(ProcessInfo.processInfo.environment))
    return RankAgreement(fields: [
      .text("the cnnc version", cnncVersion),
      .text("the kernel path", isa?.rawValue ?? "unknown"),
      .text("the spec's network", describe(network)),
      .text("the weights' layout", describeParameters(network)),
      .integer("the seed", options.seed),
      .integer("the batch", options.batch),
      .integer("the thread count", options.threads),
      .integer("the epochs", options.epochs),
      .integer("the step limit", options.maximumSteps ?? -1),
      .integer("shuffling", options.shuffle ? 1 : 0),
      .text("the weight initialiser", options.weightInit.rawValue),
      .text("the optimizer", "\(options.optimizer.rule)"),
      .real("the learning rate", options.optimizer.learningRate),
      .real("the weight decay", options.optimizer.weightDecay),
      .text("the learning-rate policy", "\(options.learningRatePolicy)"),
      .text("the preprocessing", describe(options.preprocessing)),
      .text("the convolution lowering", options.lowering.rawValue),
      .integer("the training image count", data.count),
      .text("the training image shape", "\(data.imageShape)"),
      .text("the training labels", labels(of: data)),
      .text("the training images", sample(of: data)),
    ])
  }

  /// What an evaluation split across the ranks must share.
  static func evaluation(test: (any ImageDataset)?, validation: (any ImageDataset)?)
    -> RankAgreement
  {
    RankAgreement(fields: [
      .integer("the test image count", test?.count ?? -1),
      .text("the test labels", test.map(labels) ?? ""),
      .integer("the validation image count", validation?.count ?? -1),
      .text("the validation labels", validation.map(labels) ?? ""),
    ])
  }

  /// Layers as their types and settings read, without where they stand in the file, so two
  /// copies of a spec that differ in comments or spacing agree.
  private static func describe(_ network: InferredNetwork) -> String {
    var text = "\(network.input)\n"
    for layer in network.layers {
      let settings = layer.spec.layer.map { "\($0)" } ?? "?"
      text += "\(layer.name) \(layer.typeName) \(layer.spec.inputNames) \(settings)\n"
    }
    return text
  }

  /// The values alone: `Preprocessing` also records where `random_crop` is written.
  private static func describe(_ preprocessing: Preprocessing) -> String {
    let crop =
      preprocessing.randomCrop.map { "\($0.size.map(String.init) ?? "-") \($0.pad)" } ?? "-"
    return "\(preprocessing.scale) \(preprocessing.mean) \(preprocessing.std) \(crop) "
      + "\(preprocessing.horizontalFlip)"
  }

  private static func describeParameters(_ network: InferredNetwork) -> String {
    network.layers.map { layer in
      "\(layer.name): "
        + layer.parameters.map { "\($0.name) \($0.dimensions) \($0.role) \($0.elementType)" }
        .joined(separator: ", ")
    }.joined(separator: "\n")
  }

  private static func labels(of data: any ImageDataset) -> String {
    var text = ""
    text.reserveCapacity(data.count * 2)
    for index in 0..<data.count { text += "\(data.label(of: index))," }
    return text
  }

  /// The first, middle and last images' values: other files with the same labels show here.
  private static func sample(of data: any ImageDataset) -> String {
    guard data.count > 0 else { return "" }
    let scratch = DecodeScratch()
    var values = [Float](repeating: 0, count: data.valuesPerImage)
    return Set([0, data.count / 2, data.count - 1]).sorted().map { index in
      do throws(DataError) {
        try values.withUnsafeMutableBufferPointer { buffer throws(DataError) in
          try data.readValues(of: index, into: buffer.baseAddress!, scratch: scratch)
        }
        return values.map { String($0.bitPattern, radix: 16) }.joined(separator: ",")
      } catch {
        return "unreadable"
      }
    }.joined(separator: "\n")
  }
}
