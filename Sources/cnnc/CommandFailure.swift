import CNNC

/// The error a command ends with. `main` prints it, `error: …` or in compiler form
/// (`file:line:column: error: …`) when it points into the spec, and exits 1. Commands throw it
/// rather than exit, so that what they hold is released on the way out (a lock, a temporary
/// file) and they can run in-process.
struct CommandFailure: Error, CustomStringConvertible {
  /// The line printed, without the rank label of a multi-process run.
  let description: String

  init(_ message: String) { description = "error: " + message }

  init(_ error: SessionError) {
    if let (file, at) = error.location {
      description = "\(file):\(at.line):\(at.column): error: \(error.message)"
    } else {
      description = "error: " + error.message
    }
  }

  /// Any error, by what it says of itself.
  init(_ error: any Error) {
    if let failure = error as? CommandFailure {
      self = failure
    } else if let error = error as? SessionError {
      self.init(error)
    } else {
      self.init("\(error)")
    }
  }
}

/// Throws, naming both, when an output of the command is one of its inputs or another output.
func refuseOverlaps(inputs: [FileConflicts.Role], outputs: [FileConflicts.Role]) throws {
  do {
    try FileConflicts(inputs: inputs, outputs: outputs).check()
  } catch {
    throw CommandFailure(error.description)
  }
}

/// Errors from ranks past 0 of a multi-process run say which rank they come from.
enum ErrorLabel {
  /// Set once, before any other thread starts.
  nonisolated(unsafe) static var prefix = ""
}
