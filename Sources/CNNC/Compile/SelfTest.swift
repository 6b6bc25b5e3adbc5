/// `NAME_test.c`: a `main` that runs the compiled network on a few inputs and compares its
/// outputs with the ones cnnc's own executor computed for the same inputs and weights.
public enum SelfTest {
  /// How many inputs the test carries: uniform in [0, 1), seeded, the same on every run.
  public static let cases = 3
  /// Each output must be within this of the executor's, relative to the largest magnitude of
  /// that input's expected outputs (for a softmax, of the largest probability).
  public static let tolerance = 1e-5

  /// The test's C source. The expected outputs come from an inference plan at batch `cases`
  /// with `lowering: gemm` (the im2col numerics, not Winograd's) and batchnorm folded as the
  /// C code folds it.
  public static func source(_ c: CSource, parameters: [Float]) throws -> String {
    let network = c.plan.network
    let outputFloats = c.plan.outputFloats
    let inputs = self.inputs(c.plan)
    let executor = try Executor(
      plan: try Planner.plan(
        network, PlanOptions(mode: .inference, batch: cases, lowering: .gemm)))
    guard parameters.count == executor.weights.count else {
      throw CompileError(
        "\(parameters.count) parameter values given; the network has \(executor.weights.count)")
    }
    _ = executor.weights.update(fromContentsOf: parameters)
    _ = executor.input.update(fromContentsOf: inputs)
    executor.forward()
    let expected = Array(executor.output.prefix(cases * outputFloats))
    if let at = expected.firstIndex(where: { !$0.isFinite }) {
      throw CompileError(
        "the executor's output \(at % outputFloats) for test input \(at / outputFloats + 1) is "
          + "\(expected[at]); the self-test needs finite outputs (are the weights trained?)")
    }
    return source(c, inputs: inputs, expected: expected, by: "cnnc \(cnncVersion)'s own executor")
  }

  /// An int8 network's test: the expected outputs are the integer reference's
  /// (`QuantizedNetwork.run`), which the C follows operation for operation.
  public static func source(_ c: CSource, quantized: QuantizedNetwork) -> String {
    let inputs = self.inputs(c.plan)
    let floats = c.plan.inputFloats
    let expected = (0..<cases).flatMap { n in
      quantized.run(Array(inputs[(n * floats)..<((n + 1) * floats)])).output
    }
    return source(
      c, inputs: inputs, expected: expected, by: "cnnc \(cnncVersion)'s int8 reference")
  }

  /// The test's inputs: uniform in [0, 1), seeded.
  static func inputs(_ plan: DevicePlan) -> [Float] {
    var generator = SplitMix64(seed: 1)
    return (0..<(cases * plan.inputFloats)).map { _ in
      Float(generator.next() >> 40) / Float(1 << 24)
    }
  }

  static func source(_ c: CSource, inputs: [Float], expected: [Float], by reference: String)
    -> String
  {
    let network = c.plan.network
    let (inputFloats, outputFloats) = (c.plan.inputFloats, c.plan.outputFloats)
    let (name, macro) = (c.name, c.name.uppercased())
    return """
      /* \(name)_test.c: checks the compiled network "\(network.name)" (\(name).c) against the
       * outputs \(reference) computed for the same \(cases) inputs. Exits 0 when,
       * for each input, every output is within \(tolerance) of the expected one, relative to the
       * largest expected magnitude, and the largest output is the same one. The arena is filled
       * with NaNs before each call, so that a value read before it is written shows.
       *   cc -std=c99 -O2 \(name).c \(name)_test.c -lm && ./a.out
       */
      #include "\(name).h"

      #include <stdint.h>
      #include <stdio.h>
      #include <stdlib.h>
      #include <string.h>

      #define CASES \(cases)

      static const float inputs[CASES][\(macro)_INPUT_FLOATS] = {
      \(rows(inputs, width: inputFloats))
      };

      static const float expected[CASES][\(macro)_OUTPUT_FLOATS] = {
      \(rows(expected, width: outputFloats))
      };

      static int largest(const float *values, int count)
      {
        int i, best = 0;
        for (i = 1; i < count; i++)
          if (values[i] > values[best])
            best = i;
        return best;
      }

      int main(void)
      {
        unsigned char *memory = malloc(\(macro)_ARENA_BYTES + 16);
        float *output = malloc(\(macro)_OUTPUT_FLOATS * sizeof(float));
        void *arena;
        int i, j, failures = 0;
        double worst = 0.0;
        if (!memory || !output) {
          fprintf(stderr, "\(name)_test: out of memory\\n");
          return 1;
        }
        arena = (void *)(((uintptr_t)memory + 15) & ~(uintptr_t)15);
        for (i = 0; i < CASES; i++) {
          double scale = 0.0;
          memset(memory, 0xFF, \(macro)_ARENA_BYTES + 16);
          memset(output, 0xFF, \(macro)_OUTPUT_FLOATS * sizeof(float));
          \(name)_run(inputs[i], output, arena);
          for (j = 0; j < \(macro)_OUTPUT_FLOATS; j++) {
            double magnitude = expected[i][j] < 0 ? -expected[i][j] : expected[i][j];
            if (magnitude > scale)
              scale = magnitude;
          }
          if (scale == 0.0)
            scale = 1.0;
          for (j = 0; j < \(macro)_OUTPUT_FLOATS; j++) {
            double difference = (double)output[j] - expected[i][j];
            double relative = (difference < 0 ? -difference : difference) / scale;
            if (!(relative <= \(tolerance))) {
              if (failures < 10)
                printf("input %d, output %d: %.9g, expected %.9g\\n", i + 1, j, output[j],
                       expected[i][j]);
              failures++;
            }
            if (relative > worst || relative != relative)
              worst = relative;
          }
          if (largest(output, \(macro)_OUTPUT_FLOATS) != largest(expected[i], \(macro)_OUTPUT_FLOATS)) {
            printf("input %d: the largest output is %d, expected %d\\n", i + 1,
                   largest(output, \(macro)_OUTPUT_FLOATS), largest(expected[i], \(macro)_OUTPUT_FLOATS));
            failures++;
          }
        }
        printf("\(name): %d inputs, largest difference %.3g of the largest expected value: %s\\n", CASES,
               worst, failures ? "FAILED" : "passed");
        free(memory);
        free(output);
        return failures ? 1 : 0;
      }

      """
  }

  /// `values` as `count / width` braced rows of C float literals.
  private static func rows(_ values: [Float], width: Int) -> String {
    stride(from: 0, to: values.count, by: width).map { start in
      var lines: [String] = []
      var line = "  {"
      for value in values[start..<(start + width)] {
        let literal = CSource.literal(value) + ","
        if line.count + literal.count > 99 {
          lines.append(line)
          line = "   "
        }
        line += " " + literal
      }
      lines.append(line + "},")
      return lines.joined(separator: "\n")
    }.joined(separator: "\n")
  }
}
