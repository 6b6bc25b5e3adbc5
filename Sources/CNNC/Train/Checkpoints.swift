/// Checkpoints in PyTorch's names and layouts, and the state a resumed run needs.
///
/// The checkpoint holds only `<layer>.weight` and `<layer>.bias` (conv `[out, in, kh, kw]`,
/// dense `[out, in]`), so `load_state_dict(load_file(path), strict=True)` accepts it. The resume
/// state (momentum, step, data position, random states) goes in a second safetensors file beside
/// it, `<checkpoint>.resume`, with the same tensor names.
public enum Checkpoints {
  public static func resumePath(for checkpoint: String) -> String { checkpoint + ".resume" }

  /// The tensors of `values` (laid out as `parameters`), as safetensors.
  public static func tensors(
    _ values: [Float], _ parameters: [ParameterSlot], metadata: [String: String]
  )
    -> SafeTensors
  {
    SafeTensors(
      tensors: parameters.map { slot in
        SafeTensors.Tensor(
          name: slot.name, shape: slot.dimensions,
          values: Array(values[slot.offset..<slot.offset + slot.count]))
      }, metadata: metadata)
  }

  /// The values of `file`'s tensors laid out as `parameters`, after checking that every
  /// parameter is there with its shape and nothing else is.
  public static func values(
    of file: SafeTensors, path: String, _ parameters: [ParameterSlot], floats: Int
  ) throws(CheckpointError) -> [Float] {
    var values = [Float](repeating: 0, count: floats)
    let expected = Set(parameters.map(\.name))
    if let unexpected = file.tensors.map(\.name).sorted().first(where: { !expected.contains($0) }) {
      throw CheckpointError(
        file: path, tensor: unexpected, problem: "the network has no such parameter")
    }
    for slot in parameters {
      guard let tensor = file[slot.name] else {
        throw CheckpointError(file: path, tensor: slot.name, problem: "missing from the file")
      }
      guard tensor.shape == slot.dimensions else {
        throw CheckpointError(
          file: path, tensor: slot.name,
          problem: "shape \(tensor.shape) does not match the layer's \(slot.dimensions)")
      }
      guard tensor.values.allSatisfy(\.isFinite) else {
        throw CheckpointError(
          file: path, tensor: slot.name, problem: "holds NaN or infinite values")
      }
      values.replaceSubrange(slot.offset..<slot.offset + slot.count, with: tensor.values)
    }
    return values
  }
}

/// Where a training run stands, as saved beside its checkpoint.
public struct ResumeState: Sendable, Equatable {
  public var step: Int
  public var epoch: Int
  public var batchInEpoch: Int
  public var randomStates: [UInt64]
  public var velocity: [Float]

  public init(step: Int, epoch: Int, batchInEpoch: Int, randomStates: [UInt64], velocity: [Float]) {
    self.step = step
    self.epoch = epoch
    self.batchInEpoch = batchInEpoch
    self.randomStates = randomStates
    self.velocity = velocity
  }

  public func encoded(_ parameters: [ParameterSlot], seed: Int, batch: Int) -> SafeTensors {
    Checkpoints.tensors(
      velocity, parameters,
      metadata: [
        "format": "cnnc-resume", "step": String(step), "epoch": String(epoch),
        "batch_in_epoch": String(batchInEpoch), "seed": String(seed), "batch": String(batch),
        "random_states": randomStates.map { String($0) }.joined(separator: ","),
      ])
  }

  public static func read(
    _ path: String, _ parameters: [ParameterSlot], floats: Int, seed: Int, batch: Int
  ) throws(CheckpointError) -> ResumeState {
    let file = try SafeTensors.read(path)
    func number(_ key: String) throws(CheckpointError) -> Int {
      guard let text = file.metadata[key], let value = Int(text), value >= 0 else {
        throw CheckpointError(file: path, problem: "metadata '\(key)' is missing or not a count")
      }
      return value
    }
    guard file.metadata["format"] == "cnnc-resume" else {
      throw CheckpointError(file: path, problem: "not a cnnc resume state (metadata 'format')")
    }
    guard try number("seed") == seed, try number("batch") == batch else {
      throw CheckpointError(
        file: path, problem: "was saved with another seed or batch size; resume with the same ones")
    }
    let states = (file.metadata["random_states"] ?? "").split(separator: ",").compactMap {
      UInt64($0)
    }
    return ResumeState(
      step: try number("step"), epoch: try number("epoch"),
      batchInEpoch: try number("batch_in_epoch"),
      randomStates: states,
      velocity: try Checkpoints.values(of: file, path: path, parameters, floats: floats))
  }
}
