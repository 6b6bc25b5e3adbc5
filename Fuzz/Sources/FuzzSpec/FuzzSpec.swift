// The spec front end on arbitrary bytes: parse, check, render every diagnostic against the
// source, and plan both modes of any spec that checks. Any trap, leak or hang is a bug.
import CNNC

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSpec(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  let result = SpecChecker.check(bytes, name: "fuzz")
  let source = SourceText(bytes)
  for diagnostic in result.diagnostics.sorted {
    precondition(diagnostic.location.line >= 1 && diagnostic.location.column >= 1)
    _ = diagnostic.rendered(fileName: "fuzz.yaml", source: source)
  }
  guard result.isValid, let network = result.network else { return 0 }
  for mode in PlanMode.allCases {
    // Planning may refuse a network (too large, no training output): an error, never a trap.
    _ = try? Planner.plan(network, PlanOptions(mode: mode, batch: 2))
  }
  return 0
}
