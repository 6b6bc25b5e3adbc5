import Foundation
import Testing

/// `cnnc check --svg`: Graphviz's rendering of the `--dot` graph, or how to install Graphviz.
@Suite struct GraphvizTests {
  typealias CLI = CommandLineTests

  @Test func withoutDotTheErrorSaysHowToInstallIt() throws {
    let output = try CLI.temporaryFile("", name: "graph.svg")
    let run = try CLI.run(
      ["check", "Models/lenet.yaml", "--svg", output], environment: ["PATH": "/nonexistent"])
    #expect(run.status == 1)
    #expect(run.stderr.contains("apt-get install graphviz"), "\(run.stderr)")
  }

  /// CI installs Graphviz (.ci/run), so this runs there.
  @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/dot")))
  func withDotTheGraphIsDrawn() throws {
    let output = try CLI.temporaryFile("", name: "graph.svg")
    let run = try CLI.run(["check", "Models/inception.yaml", "--svg", output])
    #expect(run.status == 0, "\(run.stderr)")
    let svg = try String(contentsOfFile: output, encoding: .utf8)
    #expect(svg.contains("<svg"))
    // Every layer is a node, and the concat's fan-in edges carry their shapes.
    for name in ["stem_pool", "b2_reduce", "mixed", "prob", "48×14×14"] {
      #expect(svg.contains(name), "\(name)")
    }
  }
}
