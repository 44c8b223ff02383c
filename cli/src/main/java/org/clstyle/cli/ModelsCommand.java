package org.clstyle.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.clstyle.train.GeneratorModel;
import org.clstyle.weights.WeightsException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code clstyle models}: about trained generator models. */
@Command(name = "models", mixinStandardHelpOptions = true, description = "Trained generator models.",
        subcommands = {ModelsCommand.Info.class})
final class ModelsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }

    /** A metadata value on one line: JSON (the recipe) compacted, so that `--recipe` can read it back. */
    static String oneLine(String v) {
        String t = v.strip();
        if (t.startsWith("{")) {
            try {
                com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
                return json.writeValueAsString(json.readTree(t));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                // not JSON after all: printed as it is, line breaks replaced below
            }
        }
        return t.replaceAll("\\s*[\\r\\n]+\\s*", " ");
    }

    /** {@code clstyle models info M}: the generator, its size, and how it was trained. */
    @Command(name = "info", mixinStandardHelpOptions = true, description = "Print a model's architecture and training metadata.")
    static final class Info implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "MODEL", description = "Model file from `clstyle train`.")
        Path model;

        @Override
        public Integer call() {
            GeneratorModel m;
            try {
                m = GeneratorModel.load(model);
            } catch (WeightsException e) {
                throw new UserError(e.getMessage());
            }
            var out = spec.commandLine().getOut();
            out.println("model: " + model);
            out.println("format: " + GeneratorModel.FORMAT + (m.optimizer() != null
                    ? " (checkpoint: with Adam's state at step " + m.optimizer().steps() + ")" : ""));
            out.println(String.format(Locale.ROOT, "parameters: %,d", m.network().parameterCount()));
            for (Map.Entry<String, String> e : m.spec().toMetadata().entrySet()) {
                out.println(e.getKey() + ": " + e.getValue());
            }
            for (Map.Entry<String, String> e : new java.util.TreeMap<>(m.training()).entrySet()) {
                out.println(e.getKey() + ": " + oneLine(e.getValue()));
            }
            out.flush();
            return 0;
        }
    }
}
