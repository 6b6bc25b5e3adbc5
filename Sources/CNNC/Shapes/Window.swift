/// A sliding window (convolution or pooling) and the diagnostics about how it fits its input.
struct Window {
  enum Rule: Equatable {
    case convolution
    case pooling(ceil: Bool)
  }

  var kernel: Pair
  var stride: Pair
  var pad: Pair

  func outputSize(of input: Shape, rule: Rule, check: inout ShapeCheck) -> (Int, Int)? {
    let height = size(input.height, kernel.height, stride.height, pad.height, rule)
    let width = size(input.width, kernel.width, stride.width, pad.width, rule)
    guard let height, let width else {
      let padded = pad == Pair(0) ? "" : " padded by \(pad)"
      let (name, i, k, s, p) =
        height == nil
        ? ("height", input.height, kernel.height, stride.height, pad.height)
        : ("width", input.width, kernel.width, stride.width, pad.width)
      let span = i - k + 2 * p
      let isCeil = rule == .pooling(ceil: true)
      // span < 0 here; Swift's division truncates toward zero, so round by hand.
      let rounded = isCeil ? -((-span) / s) : -((-span + s - 1) / s)
      let function = isCeil ? "ceil" : "floor"
      check.error(
        "kernel \(kernel) does not fit its \(input.height)×\(input.width) input\(padded) "
          + "(output \(name) \(function)((\(i) − \(k) + 2·\(p))/\(s)) + 1 = \(rounded + 1))")
      return nil
    }
    if case .pooling(let ceil) = rule {
      warnAboutDroppedWindows(input: input, ceil: ceil, check: &check)
    }
    // A ceil-mode window reaches the border, clipped (unless dropped, which the warning above
    // covers); the others may stop short of it.
    if rule != .pooling(ceil: true) {
      let unused = [
        ("row", input.height, kernel.height, stride.height, pad.height),
        ("column", input.width, kernel.width, stride.width, pad.width),
      ].compactMap { name, i, k, s, p -> String? in
        // The last window stops `left` positions short of the padded input's end; the last p
        // of those are padding, so only the rest are input rows (or columns) no window reads.
        let left = (i - k + 2 * p) % s
        guard left > p else { return nil }
        let unused = left - p
        return "the last \(unused == 1 ? name : "\(unused) \(name)s") "
          + "((\(i) − \(k) + 2·\(p)) mod \(s) − \(p) = \(unused))"
      }
      if !unused.isEmpty {
        check.warning(
          "stride \(stride) leaves \(unused.joined(separator: " and ")) of the input unused")
      }
    }
    return (height, width)
  }

  /// Ceil rounding can place a last window past the input (when the stride exceeds k − p); the
  /// size rule drops it. Say so, with the arithmetic, since the spec's numbers alone suggest one
  /// more row or column, and name the input rows the windows left then leave unread.
  private func warnAboutDroppedWindows(input: Shape, ceil: Bool, check: inout ShapeCheck) {
    let dimensions = [
      ("row", "height", input.height, kernel.height, stride.height, pad.height),
      ("column", "width", input.width, kernel.width, stride.width, pad.width),
    ]
    for (line, name, i, k, s, p) in dimensions {
      guard
        let size = OutputSize.poolingBeforeDrop(
          input: i, kernel: k, stride: s, pad: p, ceilMode: ceil),
        OutputSize.poolingDropsLastWindow(size: size, input: i, stride: s, pad: p)
      else { continue }
      let start = (size - 1) * s - p
      let function = ceil ? "ceil" : "floor"
      // The windows kept end at row (size − 2)·s − p + k − 1; rows after it go unread.
      let unread = i - ((size - 2) * s - p + k)
      let unused =
        unread > 0
        ? "; the last \(unread == 1 ? line : "\(unread) \(line)s") of the input "
          + "(after the kept windows' end at \(line) \(size - 2)·\(s) − \(p) + \(k) − 1 = "
          + "\(i - unread - 1)) \(unread == 1 ? "is" : "are") then unused"
        : ""
      check.warning(
        "\(function)((\(i) − \(k) + 2·\(p))/\(s)) + 1 = \(size) windows in \(name), but the last "
          + "starts at \(line) \(size - 1)·\(s) − \(p) = \(start), past the input's \(i) \(line)s: "
          + "it covers no pixel and is dropped (output \(name) \(size - 1), as in PyTorch and ONNX)"
          + unused)
    }
  }

  private func size(_ i: Int, _ k: Int, _ s: Int, _ p: Int, _ rule: Rule) -> Int? {
    switch rule {
    case .convolution:
      return OutputSize.convolution(input: i, kernel: k, stride: s, pad: p)
    case .pooling(let ceil):
      return OutputSize.pooling(input: i, kernel: k, stride: s, pad: p, ceilMode: ceil)
    }
  }
}
