import ArgumentParser

@main
struct CNNCCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cnnc",
    abstract: "A compiler for convolutional neural networks described in YAML.",
    subcommands: [
      CheckCommand.self, RunCommand.self, BenchCommand.self, ExportCommand.self, ImportCommand.self,
    ])
}
