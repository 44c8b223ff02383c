package org.clstyle.cli;

import java.io.PrintWriter;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The {@code clstyle} command: subcommands for devices, selftest, weights, stylize, texture, visualize, loss,
 * presets, compare, bench, tune, serve, train, generate and models.
 */
@Command(name = "clstyle", mixinStandardHelpOptions = true, version = "clstyle 0.1.0",
        description = "Neural style transfer on any OpenCL device.",
        subcommands = {DevicesCommand.class, SelftestCommand.class, WeightsCommand.class, StylizeCommand.class, TextureCommand.class,
                VisualizeCommand.class, LossCommand.class, PresetsCommand.class, CompareCommand.class, BenchCommand.class,
                TuneCommand.class, ServeCommand.class, TrainCommand.class, GenerateCommand.class, ModelsCommand.class})
public final class Main implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** {@code clstyle} without a command: the usage on stderr, exit 2 (it is a usage error). */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /**
     * Runs the command line and returns the exit code: 0 success, 2 a user error (one line on {@code err}
     * naming the file or option), 130 a run stopped by Ctrl-C, 1 an internal fault.
     */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cmd = new CommandLine(new Main());
        cmd.setOut(out);
        cmd.setErr(err);
        cmd.registerConverter(Path.class, Main::path);
        cmd.setParameterExceptionHandler((ex, a) -> {
            err.println("clstyle: " + Messages.line(parameterMessage(ex)));
            return 2;
        });
        cmd.setExecutionExceptionHandler((ex, c, parsed) -> {
            String m = UserError.describe(ex);
            // An OpenCL build failure carries the compiler's log, several lines by design.
            err.println("clstyle: " + (ex instanceof org.clstyle.cl.ClException ? m : Messages.line(m)));
            if (System.getenv("CLSTYLE_DEBUG") != null) {
                ex.printStackTrace(err);
            }
            return UserError.exitCode(ex);
        });
        return cmd.execute(args);
    }

    /** Of picocli's suggestions, those nearest to what was typed (edit distance), nearest first. */
    static List<String> closest(String typed, List<String> suggestions) {
        int best = Integer.MAX_VALUE;
        for (String s : suggestions) {
            best = Math.min(best, editDistance(typed, s));
        }
        final int min = best;
        return suggestions.stream().filter(s -> editDistance(typed, s) == min).toList();
    }

    /** Levenshtein distance. */
    static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j], cur[j - 1]) + 1);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /** A picocli parse error in our words: an unknown command gets picocli's closest suggestions. */
    static String parameterMessage(CommandLine.ParameterException ex) {
        if (ex instanceof CommandLine.UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String first = u.getUnmatched().get(0);
            List<String> suggestions = u.getSuggestions();
            CommandLine where = u.getCommandLine();
            boolean expectsCommand = !where.getSubcommands().isEmpty() && !first.startsWith("-");
            String what = first.startsWith("-") ? "unknown option" : expectsCommand ? "unknown command" : "unexpected argument";
            String at = where.getCommandSpec().parent() == null ? "" : where.getCommandSpec().qualifiedName(" ")
                    .replaceFirst("^clstyle ", "") + ": ";
            String msg = at + what + " '" + Messages.value(first) + "'";
            if (!suggestions.isEmpty()) {
                suggestions = closest(first, suggestions);
                msg += "; did you mean " + String.join(" or ", suggestions.subList(0, Math.min(3, suggestions.size()))) + "?";
            }
            if (expectsCommand) {
                msg += " (commands: " + String.join(", ", where.getSubcommands().keySet()) + ")";
            }
            return msg;
        }
        return ex.getMessage();
    }

    /**
     * File arguments: a name the platform cannot represent (a non-ASCII name under LC_ALL=C, a NUL
     * character) is a one-line user error, not an InvalidPathException.
     */
    static Path path(String s) {
        try {
            return Path.of(s);
        } catch (InvalidPathException e) {
            throw new CommandLine.TypeConversionException(invalidPath(s, e));
        }
    }

    /** The message for a file name this system cannot represent. */
    static String invalidPath(String s, InvalidPathException e) {
        String reason = e.getReason() == null ? "" : e.getReason();
        if (s.indexOf('\0') >= 0) {
            return "'" + Messages.value(s.replace("\0", "\\0")) + "' is not a file name (it contains a NUL character)";
        }
        String enc = System.getProperty("sun.jnu.encoding", "?");
        return "'" + Messages.value(s) + "' is not a file name this system can represent (" + reason.toLowerCase(java.util.Locale.ROOT)
                + " in the file-name encoding " + enc + "); run under a UTF-8 locale, e.g. LC_ALL=C.UTF-8";
    }
}
