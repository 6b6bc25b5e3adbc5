import ArgumentParser
import CNNC

// The options that `check`, `run` and `bench` share, declared once: one rule and one message
// for each, whichever command is given it. "-1" is a value to refuse by the rule, not a flag,
// so the numbers are parsed unconditionally.

/// `--batch`.
struct BatchOption: ParsableArguments {
  @Option(
    parsing: .unconditional,
    help: ArgumentHelp(
      "Images per batch (run: default the spec's train.batch; bench: 64; check: adds the "
        + "memory plan's figures at this batch)."))
  var batch: Int?

  func validate() throws {
    if let batch, batch < 1 || batch > Limits.maximumSize {
      throw ValidationError("--batch must be between 1 and \(Limits.maximumSize)")
    }
  }
}

/// `--threads`.
struct ThreadsOption: ParsableArguments {
  @Option(parsing: .unconditional, help: "Worker threads; each runs its slice of every batch.")
  var threads: Int = 1

  func validate() throws {
    if threads < 1 || threads > 256 { throw ValidationError("--threads must be between 1 and 256") }
  }
}

/// `--json`.
struct JSONOption: ParsableArguments {
  @Flag(help: "Print one JSON object on stdout instead of text (progress goes to stderr).")
  var json = false
}
