package org.clstyle.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import org.clstyle.image.FloatImage;
import org.clstyle.transfer.ProgressListener;

/**
 * Progress on stderr: on a terminal one line redrawn in place (bar, iteration, loss, elapsed, ETA);
 * otherwise (a log, a pipe) a plain line every {@code printEvery} iterations and at the last one.
 * {@code quiet} prints nothing at all (errors still reach stderr through the command's handler).
 */
final class ProgressBar implements ProgressListener {
    private static final int BAR = 24;
    private final PrintWriter err;
    private final boolean terminal;
    private final int printEvery;
    private final boolean quiet;
    private boolean lineOpen; // a redrawn line is on screen without its newline

    ProgressBar(PrintWriter err, boolean terminal, int printEvery, boolean quiet) {
        this.err = err;
        this.terminal = terminal;
        this.printEvery = printEvery;
        this.quiet = quiet;
    }

    /** Whether stderr is probably a terminal: a console is attached and TERM is not "dumb". */
    static boolean stderrIsTerminal() {
        String term = System.getenv("TERM");
        return System.console() != null && term != null && !term.equals("dumb");
    }

    @Override
    public void onScaleStart(int scale, int scales, int width, int height, int iterations) {
        if (scales > 1) {
            note(String.format(Locale.ROOT, "scale %d of %d: %dx%d, %d iterations", scale, scales, width, height,
                    iterations));
        }
    }

    @Override
    public void onIteration(Progress p) {
        if (quiet) {
            return;
        }
        String loss = p.loss() == null ? "-" : String.format(Locale.ROOT, "%.4g", p.loss().total());
        if (terminal) {
            int filled = (int) ((long) BAR * p.iteration() / Math.max(1, p.totalIterations()));
            err.print(String.format(Locale.ROOT, "\r[%s%s] %d/%d  loss %s  %s  ETA %s   ", "#".repeat(filled),
                    ".".repeat(BAR - filled), p.iteration(), p.totalIterations(), loss, time(p.elapsed()), time(p.eta())));
            err.flush();
            lineOpen = true;
        } else if ((printEvery > 0 && p.iteration() % printEvery == 0) || p.iteration() == p.totalIterations()) {
            StringBuilder terms = new StringBuilder();
            if (p.loss() != null) {
                double c = p.loss().content().values().stream().mapToDouble(Double::doubleValue).sum();
                double s = p.loss().style().values().stream().mapToDouble(Double::doubleValue).sum();
                terms.append(String.format(Locale.ROOT, " (raw content %.4g, style %.4g, tv %.4g)", c, s, p.loss().tv()));
            }
            err.println(String.format(Locale.ROOT, "iteration %d/%d  loss %s%s  elapsed %s  ETA %s", p.iteration(),
                    p.totalIterations(), loss, terms, time(p.elapsed()), time(p.eta())));
            err.flush();
        }
    }

    @Override
    public void onImageSaved(int iteration, FloatImage image, Path file) {
        note("iteration " + iteration + ": wrote " + file);
    }

    @Override
    public void onNote(String note) {
        note(note);
    }

    private void note(String line) {
        if (quiet) {
            return;
        }
        endLine();
        err.println(line);
        err.flush();
    }

    /** Ends a redrawn line so that what follows starts on its own line. */
    void endLine() {
        if (lineOpen) {
            err.println();
            err.flush();
            lineOpen = false;
        }
    }

    static String time(Duration d) {
        long s = d.toSeconds();
        if (s < 60) {
            return String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1000.0);
        }
        if (s < 3600) {
            return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
        }
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
    }
}
