/// The `train:` section of a spec.
public struct TrainSpec: Sendable, Equatable {
  /// Where the training and test images come from (`train.data`), and how they are prepared.
  public var data: DataSource
  public var batch: Int
  public var epochs: Int
  public var shuffle: Bool
  public var seed: Int
  public var weightInit: WeightInit
  public var optimizer: Optimizer
  public var learningRatePolicy: LearningRatePolicy
  /// How training plans compute convolutions (`lowering: auto | gemm`).
  public var lowering = ConvolutionLowering.auto

  /// The settings a net without a `train:` section trains with in benchmarks: batch 64, SGD at
  /// lr 0.01, no data.
  public static let defaults = TrainSpec(
    data: DataSource(format: .mnist, path: "", preprocessing: Preprocessing(scale: 1 / 256)),
    batch: 64, epochs: 1,
    shuffle: true, seed: 1, weightInit: .glorotUniform, optimizer: .sgd(learningRate: 0.01),
    learningRatePolicy: .fixed)

  static let keys = [
    "data", "batch", "epochs", "shuffle", "seed", "weight_init", "optimizer", "lr_policy",
    "lowering",
  ]

  /// Reads the section, reporting every problem with its place; nil when it has errors.
  static func read(_ node: YAMLNode, _ diagnostics: inout DiagnosticList) -> TrainSpec? {
    guard case .mapping = node.content else {
      diagnostics.error(
        "train: must be a mapping, found \(node.kindDescription)", at: node.location)
      return nil
    }
    var keys = KeyReader(node: node, subject: "train")
    keys.rejectUnknownKeys(keys: Self.keys)
    let batch = keys.positive("batch", default: 64)
    let epochs = keys.positive("epochs", default: 1)
    let shuffle = keys.boolean("shuffle", default: true)
    let seed = keys.integer("seed", default: 1, in: 0...Limits.maximumSize)
    let weightInit = readWeightInit(&keys)
    let lowering = keys.choice(
      "lowering", among: ConvolutionLowering.allCases.map(\.rawValue),
      default: ConvolutionLowering.auto.rawValue)
    diagnostics.append(contentsOf: keys.diagnostics)

    var data: DataSource?
    if let dataNode = node["data"] {
      data = DataSource.read(dataNode, &diagnostics)
    } else {
      diagnostics.error("train: missing required key 'data'", at: node.location)
    }
    let optimizer =
      node["optimizer"].map { readOptimizer($0, &diagnostics) } ?? .sgd(learningRate: 0.01)
    let policy = node["lr_policy"].map { readPolicy($0, &diagnostics) } ?? .fixed
    guard let data, let optimizer, let policy, !diagnostics.hasErrors else { return nil }
    return TrainSpec(
      data: data, batch: batch, epochs: epochs, shuffle: shuffle, seed: seed,
      weightInit: weightInit, optimizer: optimizer, learningRatePolicy: policy,
      lowering: ConvolutionLowering(rawValue: lowering) ?? .auto)
  }

  /// Other tools' names for these schemes, with ours: the two "xavier"s are different ranges.
  static let weightInitElsewhere = [
    "xavier": "Caffe's 'xavier' filler is 'lecun_uniform' here, PyTorch's xavier_uniform_ is "
      + "'glorot_uniform'",
    "xavier_uniform": "PyTorch's xavier_uniform_ is 'glorot_uniform' here",
    "kaiming_uniform": "PyTorch's kaiming_uniform_ (a = 0) is 'he_uniform' here",
  ]

  private static func readWeightInit(_ keys: inout KeyReader) -> WeightInit {
    if let text = keys.node["weight_init"]?.scalarText, let hint = weightInitElsewhere[text] {
      keys.report("unknown 'weight_init' \"\(text)\": \(hint)", at: "weight_init")
      return .glorotUniform
    }
    let name = keys.choice(
      "weight_init", among: WeightInit.allCases.map(\.rawValue),
      default: WeightInit.glorotUniform.rawValue)
    return WeightInit(rawValue: name) ?? .glorotUniform
  }

  /// A reader of `node`'s keys, or nil (with an error) when it is not a mapping.
  static func mapping(
    _ node: YAMLNode, _ subject: String, _ diagnostics: inout DiagnosticList
  )
    -> KeyReader?
  {
    guard case .mapping = node.content else {
      diagnostics.error(
        "\(subject): must be a mapping, found \(node.kindDescription)", at: node.location)
      return nil
    }
    return KeyReader(node: node, subject: subject)
  }

  /// `{type: sgd, lr, momentum, weight_decay}` or `{type: adam | adamw, lr, betas, eps,
  /// weight_decay}` with PyTorch's defaults; a key of the other kind is named as such.
  private static func readOptimizer(_ node: YAMLNode, _ diagnostics: inout DiagnosticList)
    -> Optimizer?
  {
    guard var keys = mapping(node, "train.optimizer", &diagnostics) else { return nil }
    let type = keys.choice("type", among: ["sgd", "adam", "adamw"], default: "sgd")
    let own = type == "sgd" ? ["momentum"] : ["betas", "eps"]
    let others = type == "sgd" ? ["betas", "eps"] : ["momentum"]
    for key in others where keys.has(key) {
      keys.report(
        "'\(key)' is not a setting of \(type == "sgd" ? "SGD" : "Adam")"
          + (type == "sgd" ? " (give type: adam or adamw)" : "; its momentum is 'betas'"),
        at: key)
    }
    keys.rejectUnknownKeys(keys: ["type", "lr", "weight_decay"] + own + others)
    let rate = keys.number("lr", requirement: "a positive number") { $0 > 0 }
    let decay = keys.number(
      "weight_decay", default: type == "adamw" ? 0.01 : 0, requirement: "non-negative"
    ) { $0 >= 0 }
    let optimizer: Optimizer
    if type == "sgd" {
      let momentum = keys.number("momentum", default: 0, requirement: "in [0, 1)") {
        $0 >= 0 && $0 < 1
      }
      optimizer = .sgd(learningRate: rate, momentum: momentum, weightDecay: decay)
    } else {
      let (beta1, beta2) = keys.numberPair(
        "betas", default: (0.9, 0.999), requirement: "in [0, 1)"
      ) { $0 >= 0 && $0 < 1 }
      let epsilon = keys.number("eps", default: 1e-8, requirement: "a positive number") {
        $0 > 0
      }
      optimizer = .adam(
        learningRate: rate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: decay,
        decoupled: type == "adamw")
    }
    diagnostics.append(contentsOf: keys.diagnostics)
    return keys.diagnostics.hasErrors ? nil : optimizer
  }

  private static func readPolicy(_ node: YAMLNode, _ diagnostics: inout DiagnosticList)
    -> LearningRatePolicy?
  {
    guard var keys = mapping(node, "train.lr_policy", &diagnostics) else { return nil }
    let type = keys.choice("type", among: ["fixed", "inv", "step"], default: nil)
    let policy: LearningRatePolicy
    switch type {
    case "inv":
      keys.rejectUnknownKeys(keys: ["type", "gamma", "power"])
      policy = .inverse(
        gamma: keys.number("gamma", requirement: "non-negative") { $0 >= 0 },
        power: keys.number("power", requirement: "non-negative") { $0 >= 0 })
    case "step":
      keys.rejectUnknownKeys(keys: ["type", "step", "gamma"])
      policy = .step(
        every: keys.positive("step"),
        gamma: keys.number("gamma", requirement: "a positive number") { $0 > 0 })
    default:
      keys.rejectUnknownKeys(keys: ["type"])
      policy = .fixed
    }
    diagnostics.append(contentsOf: keys.diagnostics)
    return keys.diagnostics.hasErrors ? nil : policy
  }
}
