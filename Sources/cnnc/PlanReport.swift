import CNNC

/// `cnnc check --plan`: the steps with their operands, then each buffer's lifetime as a bar.
enum PlanReport {
  /// The widest lifetime bar, in columns.
  static let barWidth = 120

  static func text(_ plan: ExecutionPlan) -> String {
    let options = plan.options
    var lines = [
      "\(plan.network.name): \(options.mode.rawValue) plan, batch \(options.batch), "
        + "\(plan.steps.count) steps, arena \(CheckReport.grouped(plan.arenaBytes)) bytes "
        + "(lower bound \(CheckReport.grouped(plan.lowerBoundBytes)), "
        + "naive \(CheckReport.grouped(plan.naiveBytes)))",
      "",
    ]
    let layers = plan.network.layers
    if !plan.foldedBatchNorms.isEmpty {
      let folds = plan.foldedBatchNorms.sorted { $0.key < $1.key }.map {
        "\(layers[$0.key].name) into \(layers[$0.value].name)"
      }
      lines += ["batchnorm folded (no step of its own): " + folds.joined(separator: ", "), ""]
    }
    var rows = [["step", "kernel", "reads", "writes"]]
    for (index, step) in plan.steps.enumerated() {
      let layer =
        step.layer.map { CheckReport.shortened(plan.network.layers[$0].name) + ": " } ?? ""
      rows.append([
        String(index), layer + step.kernel, operands(step.reads, plan), operands(step.writes, plan),
      ])
    }
    lines += CheckReport.aligned(rows, rightAligned: [0])
    // A long plan's bars are scaled to at most `barWidth` columns, each covering several
    // steps, so that the output grows with the buffers, not with buffers × steps.
    let perColumn = max(1, (plan.steps.count + barWidth - 1) / barWidth)
    let barColumns = (plan.steps.count + perColumn - 1) / perColumn
    lines += [
      "",
      perColumn == 1
        ? "buffer lifetimes (one column per step; # live):"
        : "buffer lifetimes (one column per \(perColumn) steps; # live in any of them):",
    ]
    var lifetimes = [["buffer", "offset", "bytes", "steps"]]
    for buffer in plan.buffers.sorted(by: { ($0.offset, $0.firstStep) < ($1.offset, $1.firstStep) })
    {
      let bar = String(
        (0..<barColumns).map { column -> Character in
          let (first, last) = (column * perColumn, column * perColumn + perColumn - 1)
          return first <= buffer.lastStep && last >= buffer.firstStep ? "#" : "."
        })
      lifetimes.append([
        CheckReport.shortened(buffer.name), CheckReport.grouped(buffer.offset),
        CheckReport.grouped(buffer.bytes), bar,
      ])
    }
    lines += CheckReport.aligned(lifetimes, rightAligned: [1, 2])
    return lines.joined(separator: "\n")
  }

  /// "conv1@0+73,728" for each buffer: its name, offset and size. Stops once the text is wider
  /// than a table cell, which shows no more: a concat of 10,000 inputs costs no more than one.
  private static func operands(_ ids: [Int], _ plan: ExecutionPlan) -> String {
    var text = ""
    for id in ids {
      let buffer = plan.buffers[id]
      text += (text.isEmpty ? "" : " ") + CheckReport.shortened(buffer.name)
      text += "@\(CheckReport.grouped(buffer.offset))+\(CheckReport.grouped(buffer.bytes))"
      if text.count > CheckReport.maximumCellWidth { break }
    }
    return text
  }
}
