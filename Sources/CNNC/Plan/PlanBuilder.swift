/// Collects buffers and their lifetimes while a plan is lowered.
struct PlanBuilder {
  let batch: Int
  var buffers: [PlanBuffer] = []

  /// A buffer of one `shape` per sample.
  mutating func add(_ name: String, _ kind: PlanBuffer.Kind, _ shape: Shape) throws(PlanError)
    -> Int
  {
    guard let perSample = shape.elementCount, perSample <= Int(Int32.max) else {
      throw PlanError(message: "'\(name)': \(shape) per sample is too large to run")
    }
    return try add(name, kind, elements: perSample * batch)
  }

  /// A buffer of `elements` 4-byte values.
  mutating func add(_ name: String, _ kind: PlanBuffer.Kind, elements: Int) throws(PlanError) -> Int
  {
    guard let bytes = checkedProduct([elements, 4]), bytes < Int.max / 2 else {
      throw PlanError(message: "'\(name)': its byte count overflows a 64-bit integer")
    }
    buffers.append(
      PlanBuffer(
        name: name, kind: kind, bytes: ArenaPlanner.roundUp(bytes, to: Planner.alignment),
        firstStep: Int.max, lastStep: -1, offset: 0))
    return buffers.count - 1
  }

  mutating func markLiveness(_ steps: [PlanStep]) {
    for (index, step) in steps.enumerated() {
      for buffer in step.reads + step.writes { extend(buffer, from: index, to: index) }
    }
    for index in buffers.indices where buffers[index].lastStep < 0 {
      buffers[index].firstStep = 0
      buffers[index].lastStep = 0
    }
  }

  mutating func extend(_ buffer: Int, from first: Int?, to last: Int?) {
    if let first { buffers[buffer].firstStep = min(buffers[buffer].firstStep, first) }
    if let last { buffers[buffer].lastStep = max(buffers[buffer].lastStep, last) }
  }
}
