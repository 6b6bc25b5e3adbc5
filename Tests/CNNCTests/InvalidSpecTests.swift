import Testing

@testable import CNNC

/// Every invalid spec must be rejected with an error at an exact line and column.
@Suite struct InvalidSpecTests {
  struct Case: CustomTestStringConvertible, Sendable {
    var yaml: String
    var line: Int
    var column: Int
    var message: String
    var testDescription: String { message }
  }

  static let header = "input: [1, 8, 8]\nlayers:\n"
  static let trainHeader =
    "input: [1, 8, 8]\nlayers: [{type: relu}]\ntrain:\n  data: {format: mnist, path: d}\n"

  static let cases: [Case] = [
    Case(yaml: "input: [1, 8, 8\nlayers: []\n", line: 2, column: 7, message: "YAML syntax"),
    Case(
      yaml: header + "  - {type: convv, filters: 3, kernel: 3}\n", line: 3, column: 12,
      message: "unknown layer type 'convv'; did you mean 'conv'?"),
    Case(
      yaml: header + "  - {type: dense, unit: 10}\n", line: 3, column: 19,
      message: "unknown key 'unit'; did you mean 'units'?"),
    Case(
      yaml: header + "  - {type: dense}\n", line: 3, column: 5,
      message: "dense 'dense1': missing required key 'units'"),
    Case(
      yaml: header + "  - {type: conv, filters: \"5\", kernel: 3}\n", line: 3, column: 27,
      message: "'filters' must be a positive integer, found a string"),
    Case(
      yaml: header + "  - {type: conv, filters: 5, kernel: 2.5}\n", line: 3, column: 38,
      message: "'kernel' must be a positive integer, found a number"),
    Case(
      yaml: header + "  - {type: conv, filters: 0, kernel: 3}\n", line: 3, column: 27,
      message: "'filters' must be a positive integer, found 0"),
    Case(
      yaml: header + "  - {type: conv, filters: 2, kernel: 3, pad: -1}\n", line: 3, column: 46,
      message: "'pad' must be a non-negative integer, found -1"),
    Case(
      yaml: header + "  - {type: conv, filters: 2, kernel: [3, 3, 3]}\n", line: 3, column: 38,
      message: "'kernel' must be an integer or a list [height, width], found a list of 3"),
    Case(
      yaml:
        "input: [1, 4, 4]\nlayers:\n  - {type: relu}\n  - {type: conv, name: c3, filters: 2, kernel: 5}\n",
      line: 4, column: 5,
      message:
        "conv 'c3': kernel 5×5 does not fit its 4×4 input (output height floor((4 − 5 + 2·0)/1) + 1 = 0)"
    ),
    Case(
      yaml: header + "  - {type: maxpool, kernel: 2, pad: 2}\n", line: 3, column: 37,
      message: "pad 2×2 must be smaller than kernel 2×2"),
    Case(
      yaml: header + "  - {type: relu, input: relu2}\n  - {type: relu}\n", line: 3, column: 25,
      message: "input 'relu2' is defined later, on line 4"),
    Case(
      yaml: header + "  - {type: relu, input: nope}\n", line: 3, column: 25,
      message: "unknown input 'nope'"),
    Case(
      yaml: header + "  - {type: relu, name: a}\n  - {type: relu, name: a}\n", line: 4, column: 5,
      message: "duplicate name; line 3 already defines 'a'"),
    Case(
      yaml: header
        + "  - {type: conv, name: a, filters: 2, kernel: 1}\n  - {type: conv, name: b, filters: 3, kernel: 1, input: input}\n  - {type: add, input: [a, b]}\n",
      line: 5, column: 5, message: "'b' is 3×8×8 but 'a' is 2×8×8; all shapes must be equal"),
    Case(
      yaml: header
        + "  - {type: maxpool, name: a, kernel: 2}\n  - {type: concat, input: [a, input]}\n",
      line: 4, column: 5,
      message: "'input' is 1×8×8 but 'a' is 1×4×4; heights and widths must be equal"),
    Case(
      yaml: header + "  - {type: concat, input: input}\n", line: 3, column: 27,
      message: "needs 'input:' listing two or more earlier layers, given 1"),
    Case(
      yaml: header + "  - {type: softmax}\n  - {type: relu}\n", line: 3, column: 5,
      message: "softmax must be the last layer"),
    Case(
      yaml: header, line: 2, column: 8, message: "'layers' must be a list of layers, found nothing"),
    Case(yaml: "input: [1, 8, 8]\nlayers: []\n", line: 2, column: 9, message: "'layers' is empty"),
    Case(yaml: "input: [1, 8, 8]\n", line: 1, column: 1, message: "missing required key 'layers'"),
    Case(
      yaml: "layers: [{type: relu}]\n", line: 1, column: 1, message: "missing required key 'input'"),
    Case(
      yaml: "input: [1, 8, 8]\nlayer: []\nlayers: [{type: relu}]\n", line: 2, column: 1,
      message: "unknown key 'layer'; did you mean 'layers'?"),
    Case(
      yaml: "input: {channels: 1, height: 8}\nlayers: [{type: relu}]\n", line: 1, column: 8,
      message: "input: missing required key 'width'"),
    Case(
      yaml: header + "  - {type: dropout, rate: 1.5}\n", line: 3, column: 27,
      message: "'rate' must be in [0, 1), found 1.5"),
    Case(
      yaml: header + "  - {type: avgpool, kernel: 2, round: up}\n", line: 3, column: 39,
      message: "'round' must be 'ceil' or 'floor'"),
    Case(
      yaml: header + "  - {type: dense, units: 99999999999999999999}\n", line: 3, column: 26,
      message: "'units' is 99999999999999999999, more than the largest size"),
    Case(
      yaml: "input: [2147483647, 2147483647, 2]\nlayers:\n  - {type: dense, units: 4}\n",
      line: 3, column: 5, message: "dense 'dense1': its parameter count overflows a 64-bit integer"),
    Case(
      yaml: "input: [1, 8, 8]\nlayers: [{type: relu, name: input}]\n", line: 2, column: 10,
      message: "the name 'input' is reserved"),
    Case(
      yaml: "input: [1, 8, 8]\nlayers:\n  - &a {type: relu}\n  - *a\n", line: 4, column: 5,
      message: "aliases"),
    Case(
      yaml: "input: [1, 8, 8]\ninput: [1, 2, 2]\nlayers: [{type: relu}]\n", line: 2, column: 1,
      message: "duplicate key 'input'"),
    Case(
      yaml: "input: [1, 8, 8]\nlayers: [{type: relu}]\n---\nlayers: [{type: conv}]\n", line: 3,
      column: 1, message: "a spec is one YAML document, but a second one starts here"),
    Case(
      yaml: "input: [1, 8, 8]\nlayers: [{type: relu}]\n...\n[unclosed\n", line: 4, column: 1,
      message: "YAML syntax"),
    Case(
      yaml: trainHeader + "  weight_init: glorot\n", line: 5, column: 16,
      message: "'weight_init' must be 'glorot_uniform' or 'lecun_uniform' or 'he_uniform'"),
    Case(
      yaml: trainHeader + "  weight_init: xavier\n", line: 5, column: 16,
      message: "Caffe's 'xavier' filler is 'lecun_uniform' here"),
    Case(
      yaml: trainHeader + "  optimizer: {type: sgd, lr: -1}\n", line: 5, column: 30,
      message: "train.optimizer: 'lr' must be a positive number, found -1"),
    Case(
      yaml: trainHeader + "  optimizer: {type: sgd, lr: .nan}\n", line: 5, column: 30,
      message: "'lr' must be a number, found not-a-number"),
    Case(
      yaml: header + "  - {type: conv, name: side, filters: 2, kernel: 1}\n"
        + "  - {type: dense, units: 3, input: input}\n", line: 3, column: 5,
      message: "conv 'side': its output reaches no later layer"),
    Case(
      yaml: header + "  - {type: leaky_relu, slope: nan}\n", line: 3, column: 31,
      message: "'slope' must be a number, found not-a-number (\"nan\")"),
    Case(
      yaml: header + "  - {type: leaky_relu, slope: 1e999}\n", line: 3, column: 31,
      message: "'slope' must be a number, found infinity (\"1e999\")"),
    Case(
      yaml: trainHeader + "  lowering: winograd\n", line: 5, column: 13,
      message: "'lowering' must be 'auto' or 'gemm'"),
    Case(
      yaml: header + "  - {type: dense, units: !custom 3}\n", line: 3, column: 26,
      message: "YAML tag '!custom' is not supported in a spec"),
    Case(
      yaml: trainHeader + "  lr_policy: {type: invv}\n", line: 5, column: 21,
      message: "did you mean 'inv'?"),
    Case(
      yaml: trainHeader + "  momentum: 0.9\n", line: 5, column: 3,
      message: "train: unknown key 'momentum'"),
    Case(
      yaml: trainHeader + "  optimizer: {type: adam, lr: 0.001, momentum: 0.9}\n", line: 5,
      column: 48, message: "'momentum' is not a setting of Adam; its momentum is 'betas'"),
    Case(
      yaml: trainHeader + "  optimizer: {type: sgd, lr: 0.1, betas: [0.9, 0.99]}\n", line: 5,
      column: 42, message: "'betas' is not a setting of SGD (give type: adam or adamw)"),
    Case(
      yaml: trainHeader + "  optimizer: {type: adamw, lr: 0.001, betas: [0.9, 1.5]}\n", line: 5,
      column: 52, message: "'betas' values must be in [0, 1), found 1.5"),
    Case(
      yaml: trainHeader + "  optimizer: {type: adam, lr: 0.001, betas: 0.9}\n", line: 5,
      column: 45, message: "'betas' must be a list of two numbers"),
  ]

  @Test(arguments: cases)
  func rejected(_ testCase: Case) {
    let result = check(testCase.yaml)
    #expect(!result.isValid)
    let match = result.diagnostics.errors.first { $0.message.contains(testCase.message) }
    #expect(match != nil, "no error containing \(testCase.message); got \(result.diagnostics.all)")
    #expect(match?.location == SourceLocation(line: testCase.line, column: testCase.column))
  }

  @Test func everyErrorInTheFileIsReported() {
    let result = check(
      Self.header + "  - {type: convv}\n  - {type: dense}\n  - {type: relu, input: nope}\n")
    #expect(result.diagnostics.errors.map(\.location.line) == [3, 4, 5])
  }

  /// A duplicate key is one error among the others, and the rest of the spec is still read.
  @Test func aDuplicateKeyHidesNothing() {
    let result = check(
      "name: n\ninput: [1, 8, 8]\nlayers:\n  - {type: relu, type: relu}\n  - {type: convv}\n")
    #expect(result.diagnostics.errors.map(\.location.line) == [4, 5])
    #expect(result.network?.name == "n")
    #expect(result.network?.input == Shape(channels: 1, height: 8, width: 8))
  }

  @Test func errorsDoNotCascadeFromABrokenLayer() {
    // The first conv does not fit; the layers reading it report nothing of their own.
    let result = check(
      Self.header
        + "  - {type: conv, filters: 2, kernel: 9}\n  - {type: relu}\n  - {type: dense, units: 3}\n"
    )
    #expect(result.diagnostics.errors.count == 1)
  }

  @Test func borderWarningIsNotAnError() {
    let result = check(Self.header + "  - {type: conv, filters: 2, kernel: 3, stride: 2}\n")
    #expect(result.isValid)
    #expect(result.diagnostics.warnings.count == 1)
    #expect(
      result.diagnostics.warnings.first?.message.contains("(8 − 3 + 2·0) mod 2 − 0 = 1") == true)
  }

  /// ResNet's stride-2 3×3 convolution with pad 1 on an even plane: what the last window leaves
  /// out is the padding row, not an input row, so there is nothing to warn about. A 1×1 stride-2
  /// projection on the same plane does skip the last input row and column.
  @Test func unusedPaddingIsNotAnUnusedInputRow() {
    let padded = check(
      "input: [1, 32, 32]\nlayers:\n  - {type: conv, filters: 2, kernel: 3, stride: 2, pad: 1}\n")
    #expect(padded.isValid && padded.diagnostics.warnings.isEmpty)
    let twoShort = check(
      "input: [1, 9, 9]\nlayers:\n  - {type: conv, filters: 2, kernel: 2, stride: 4, pad: 1}\n")
    // (9 − 2 + 2) mod 4 = 1 ≤ 1: the window starting at row 7 covers rows 7, 8.
    #expect(twoShort.diagnostics.warnings.isEmpty)
    let projection = check(
      "input: [1, 32, 32]\nlayers:\n  - {type: conv, filters: 2, kernel: 1, stride: 2}\n")
    #expect(
      projection.diagnostics.warnings.map(\.message).first?.contains(
        "the last row ((32 − 1 + 2·0) mod 2 − 0 = 1)") == true)
  }

  @Test func ceilModePoolingWarnsAboutNothing() {
    let result = check(Self.header + "  - {type: maxpool, kernel: 3, stride: 2}\n")
    #expect(result.isValid)
    #expect(result.diagnostics.warnings.isEmpty)
  }
}
