/// Checkpoints in PyTorch's names and layouts, and the state a resumed run needs.
///
/// The checkpoint holds every layer tensor by PyTorch's name and layout (`<layer>.weight` and
/// `.bias`, conv `[out, in/groups, kh, kw]`, dense `[out, in]`, batchnorm's running statistics
/// and its I64 `num_batches_tracked`), so `load_state_dict(load_file(path), strict=True)` accepts
/// it. The resume state goes in a second safetensors file beside it, `<checkpoint>.resume`: the
/// tensors again (`weights/<name>`), the optimizer's state of each learned one
/// (`momentum/<name>`, or Adam's `exp_avg/` and `exp_avg_sq/`), and the step, data position and
/// random states. It alone is enough to resume, so a kill between writing the two files can never leave
/// a pair that cannot be resumed.
public enum Checkpoints {
  public static func resumePath(for checkpoint: String) -> String { checkpoint + ".resume" }

  /// Where a run on a folder of images keeps its class names, one per line in class order, so
  /// that outputs can be named later: beside the checkpoint, `<checkpoint>.classes.txt`.
  public static func classNamesPath(for checkpoint: String) -> String {
    checkpoint + ".classes.txt"
  }

  /// Writes `names` at `classNamesPath(for: checkpoint)`.
  public static func writeClassNames(_ names: [String], beside checkpoint: String)
    throws(CheckpointError)
  {
    try OutputFile.write(
      Array(names.map { $0 + "\n" }.joined().utf8), to: classNamesPath(for: checkpoint))
  }

  /// The tensors of `values` (laid out as `parameters`), as safetensors.
  public static func tensors(
    _ values: [Float], _ parameters: [ParameterSlot], metadata: [String: String]
  )
    -> SafeTensors
  {
    SafeTensors(tensors: named(values, parameters), metadata: metadata)
  }

  /// One tensor per parameter, named `prefix` + the parameter's name.
  static func named(_ values: [Float], _ parameters: [ParameterSlot], prefix: String = "")
    -> [SafeTensors.Tensor]
  {
    parameters.map { slot in
      SafeTensors.Tensor(
        name: prefix + slot.name, shape: slot.dimensions,
        dtype: slot.elementType == .int64 ? .i64 : .f32, values: Array(values[slot.range]))
    }
  }

  /// The values of `file`'s tensors laid out as `parameters`, after checking that every
  /// parameter is there with its shape and nothing else is.
  public static func values(
    of file: SafeTensors, path: String, _ parameters: [ParameterSlot], floats: Int
  ) throws(CheckpointError) -> [Float] {
    try checkNoOthers(in: file, path: path, expected: Set(parameters.map(\.name)))
    return try values(of: file, path: path, parameters, floats: floats, prefix: "")
  }

  /// The values of the checkpoint at `path`, laid out and checked as above.
  public static func values(at path: String, _ parameters: [ParameterSlot], floats: Int)
    throws(CheckpointError) -> [Float]
  {
    try values(of: try SafeTensors.read(path), path: path, parameters, floats: floats)
  }

  static func checkNoOthers(in file: SafeTensors, path: String, expected: Set<String>)
    throws(CheckpointError)
  {
    if let unexpected = file.tensors.map(\.name).sorted().first(where: { !expected.contains($0) }) {
      throw CheckpointError(
        file: path, tensor: unexpected, problem: "the network has no such parameter")
    }
  }

  /// The tensors named `prefix` + each parameter's name, laid out as `parameters`.
  static func values(
    of file: SafeTensors, path: String, _ parameters: [ParameterSlot], floats: Int, prefix: String
  ) throws(CheckpointError) -> [Float] {
    var values = [Float](repeating: 0, count: floats)
    for parameter in parameters {
      var slot = parameter
      slot.name = prefix + parameter.name
      guard let tensor = file[slot.name] else {
        throw CheckpointError(file: path, tensor: slot.name, problem: "missing from the file")
      }
      guard tensor.shape == slot.dimensions else {
        throw CheckpointError(
          file: path, tensor: slot.name,
          problem: "shape \(tensor.shape) does not match the layer's \(slot.dimensions)")
      }
      let dtype: SafeTensors.DType = slot.elementType == .int64 ? .i64 : .f32
      guard tensor.dtype == dtype else {
        throw CheckpointError(
          file: path, tensor: slot.name,
          problem: "dtype \(tensor.dtype.rawValue) is not the layer's \(dtype.rawValue)")
      }
      if dtype == .f32, !tensor.values.allSatisfy(\.isFinite) {
        throw CheckpointError(
          file: path, tensor: slot.name, problem: "holds NaN or infinite values")
      }
      if let counts = tensor.integers, counts.contains(where: { $0 < 0 }) {
        throw CheckpointError(file: path, tensor: slot.name, problem: "holds a negative count")
      }
      values.replaceSubrange(slot.range, with: tensor.values)
    }
    return values
  }
}

/// Where a training run stands, as saved beside its checkpoint: everything a resumed run needs,
/// the weights included.
public struct ResumeState: Sendable, Equatable {
  public var step: Int
  public var epoch: Int
  public var batchInEpoch: Int
  public var randomStates: [UInt64]
  public var weights: [Float]
  /// The optimizer's state, one block per name in `Optimizer.stateNames`, each laid out as the
  /// weights (only the learned tensors' parts are saved; the rest stay zero).
  public var optimizerState: [Float]

  /// Written in the metadata; a resume file of another format is refused with this named.
  /// Files without the "optimizer" entry were written by SGD runs.
  static let format = "cnnc-resume-2"

  public init(
    step: Int, epoch: Int, batchInEpoch: Int, randomStates: [UInt64], weights: [Float],
    optimizerState: [Float]
  ) {
    self.step = step
    self.epoch = epoch
    self.batchInEpoch = batchInEpoch
    self.randomStates = randomStates
    self.weights = weights
    self.optimizerState = optimizerState
  }

  public func encoded(
    _ parameters: [ParameterSlot], optimizer: Optimizer, seed: Int, batch: Int
  ) -> SafeTensors {
    var tensors = Checkpoints.named(weights, parameters, prefix: "weights/")
    let learned = parameters.filter { $0.role == .learned }
    for (index, name) in optimizer.stateNames.enumerated() {
      let block = Array(optimizerState[(index * weights.count)..<((index + 1) * weights.count)])
      tensors += Checkpoints.named(block, learned, prefix: name + "/")
    }
    return SafeTensors(
      tensors: tensors,
      metadata: [
        "format": Self.format, "optimizer": optimizer.name, "step": String(step),
        "epoch": String(epoch), "batch_in_epoch": String(batchInEpoch), "seed": String(seed),
        "batch": String(batch),
        "random_states": randomStates.map { String($0) }.joined(separator: ","),
      ])
  }

  public static func read(
    _ path: String, _ parameters: [ParameterSlot], floats: Int, optimizer: Optimizer, seed: Int,
    batch: Int
  ) throws(CheckpointError) -> ResumeState {
    let file = try SafeTensors.read(path)
    func number(_ key: String) throws(CheckpointError) -> Int {
      guard let text = file.metadata[key], let value = Int(text), value >= 0 else {
        throw CheckpointError(file: path, problem: "metadata '\(key)' is missing or not a count")
      }
      return value
    }
    guard file.metadata["format"] == Self.format else {
      let found = file.metadata["format"].map { "'\($0)'" } ?? "none"
      throw CheckpointError(
        file: path,
        problem: "not a resume state this cnnc reads (metadata 'format' is \(found), "
          + "not '\(Self.format)'); start again, or from its checkpoint with --weights")
    }
    guard try number("seed") == seed, try number("batch") == batch else {
      throw CheckpointError(
        file: path, problem: "was saved with another seed or batch size; resume with the same ones")
    }
    let saved = file.metadata["optimizer"] ?? "sgd"
    guard saved == optimizer.name else {
      throw CheckpointError(
        file: path,
        problem: "was saved by a run with optimizer '\(saved)', not '\(optimizer.name)'; resume "
          + "with the same optimizer, or start from its checkpoint with --weights")
    }
    let states = (file.metadata["random_states"] ?? "").split(separator: ",").compactMap {
      UInt64($0)
    }
    let statePrefixes = optimizer.stateNames.map { $0 + "/" }
    let learned = parameters.filter { $0.role == .learned }
    try Checkpoints.checkNoOthers(
      in: file, path: path,
      expected: Set(
        parameters.map { "weights/" + $0.name }
          + learned.flatMap { slot in statePrefixes.map { $0 + slot.name } }))
    var optimizerState: [Float] = []
    for prefix in statePrefixes {
      optimizerState += try Checkpoints.values(
        of: file, path: path, learned, floats: floats, prefix: prefix)
    }
    return ResumeState(
      step: try number("step"), epoch: try number("epoch"),
      batchInEpoch: try number("batch_in_epoch"),
      randomStates: states,
      weights: try Checkpoints.values(
        of: file, path: path, parameters, floats: floats, prefix: "weights/"),
      optimizerState: optimizerState)
  }
}

extension Executor {
  /// Reads a checkpoint (as `cnnc run` writes it, or a PyTorch state_dict saved as safetensors
  /// with the same names) into this executor's weights. Every tensor is checked against the
  /// plan's parameters first; on any error the weights are left as they were.
  public func loadWeights(from path: String) throws(CheckpointError) {
    let values = try Checkpoints.values(
      of: try SafeTensors.read(path), path: path, plan.parameters, floats: plan.parameterFloats)
    _ = weights.update(fromContentsOf: values)
  }
}
