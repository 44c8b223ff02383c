package org.clstyle.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import org.clstyle.loss.Preset;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code clstyle presets}: the named recipes, each with its network, optimiser, start image and source. */
@Command(name = "presets", mixinStandardHelpOptions = true,
        description = "List the presets for --preset (stylize, texture, loss) and \"preset\" in recipe files, with their sources.")
final class PresetsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        for (Preset p : Preset.values()) {
            out.printf("%-10s %s, %s, init %s%n", p.key(), p.network(), p.optimizer(), p.init());
            out.println("           " + p.description());
        }
        out.println("Flags and recipe keys override a preset; what a preset does not set keeps the weights' defaults.");
        out.flush();
        return 0;
    }
}
