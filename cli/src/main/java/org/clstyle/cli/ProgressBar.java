package org.clstyle.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.function.IntSupplier;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarConsumer;
import me.tongfei.progressbar.ProgressBarStyle;
import org.clstyle.image.FloatImage;
import org.clstyle.transfer.ProgressListener;

/**
 * Progress on stderr. On a terminal: one line drawn by me.tongfei:progressbar (bar, iteration, elapsed,
 * our ETA, the loss), always exactly the terminal's width (read again at every redraw), so that a
 * shorter text leaves no junk and a narrow terminal does not wrap; notes are printed above it. Not on a
 * terminal (a log, a pipe): a plain line every {@code printEvery} iterations and at the last one, with
 * the weighted terms whose sum is the total. {@code quiet} prints nothing (errors still reach stderr
 * through the command's handler).
 */
final class ProgressBar implements ProgressListener {
    private final PrintWriter err;
    private final boolean terminal;
    private final int printEvery;
    private final boolean quiet;
    private final IntSupplier width;
    private static final int RENDER_MIN = 100;
    private me.tongfei.progressbar.ProgressBar bar; // open while a terminal run is in progress
    private volatile Duration eta = Duration.ZERO;
    private boolean lineOpen; // a bar line is on screen without its newline

    ProgressBar(PrintWriter err, boolean terminal, int printEvery, boolean quiet) {
        this(err, terminal, printEvery, quiet, terminalWidth());
    }

    /** With the terminal's width from {@code width} (tests give a fixed one). */
    ProgressBar(PrintWriter err, boolean terminal, int printEvery, boolean quiet, IntSupplier width) {
        this.err = err;
        this.terminal = terminal;
        this.printEvery = printEvery;
        this.quiet = quiet;
        this.width = width;
    }

    /** Whether stderr is probably a terminal: a console is attached and TERM is not "dumb". */
    static boolean stderrIsTerminal() {
        String term = System.getenv("TERM");
        return System.console() != null && term != null && !term.equals("dumb");
    }

    /** The terminal's width as the progress-bar library measures it (JLine), one column spare. */
    private static IntSupplier terminalWidth() {
        ConsoleProgressBarConsumer probe = new ConsoleProgressBarConsumer(System.err);
        return () -> Math.max(10, probe.getMaxRenderedLength());
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
            eta = p.eta();
            synchronized (this) {
                if (bar == null) {
                    bar = new ProgressBarBuilder().setTaskName("stylize").setInitialMax(p.totalIterations())
                            .setStyle(ProgressBarStyle.ASCII).setConsumer(new Line()).setUpdateIntervalMillis(250)
                            .setEtaFunction(state -> Optional.of(eta)).build();
                }
            }
            bar.setExtraMessage("loss " + loss);
            bar.stepTo(p.iteration());
            if (p.iteration() >= p.totalIterations()) {
                endLine();
            }
        } else if ((printEvery > 0 && p.iteration() % printEvery == 0) || p.iteration() == p.totalIterations()) {
            String terms = "";
            if (p.weighted() != null) {
                terms = String.format(Locale.ROOT, " = content %.4g + style %.4g + tv %.4g", p.weighted().content(),
                        p.weighted().style(), p.weighted().tv());
            }
            err.println(String.format(Locale.ROOT, "iteration %d/%d  loss %s%s  elapsed %s  ETA %s", p.iteration(),
                    p.totalIterations(), loss, terms, time(p.elapsed()), time(p.eta())));
            err.flush();
        }
    }

    /** Where the library's rendered line goes: our stderr, under our lock, so notes never interleave with it. */
    private final class Line implements ProgressBarConsumer {
        /**
         * At least {@link #RENDER_MIN} columns: the library's renderer fails on widths below its fixed text;
         * {@link #accept} cuts the line to the real width, so a narrow terminal shows its start, unwrapped.
         */
        @Override
        public int getMaxRenderedLength() {
            return Math.max(RENDER_MIN, width.getAsInt());
        }

        @Override
        public void accept(String rendered) {
            synchronized (ProgressBar.this) {
                int w = width.getAsInt();
                String line = fit(rendered, w);
                // Pad to the width: a shorter line than the last must overwrite all of it.
                err.print("\r" + line + " ".repeat(Math.max(0, w - line.length())));
                err.flush();
                lineOpen = true;
            }
        }

        @Override
        public void close() {
            // the command's stderr outlives the bar
        }
    }

    /**
     * The rendered line in {@code w} columns: a line too wide loses bar first (redrawn shorter at the same
     * fraction), then its end.
     */
    static String fit(String rendered, int w) {
        String line = rendered;
        int over = line.length() - w;
        int open = line.indexOf('['), close = open < 0 ? -1 : line.indexOf(']', open);
        if (over > 0 && open >= 0 && close > open) {
            String inner = line.substring(open + 1, close);
            int shorter = Math.max(0, inner.length() - over);
            long filled = inner.chars().filter(c -> c == '=').count();
            int newFilled = inner.isEmpty() ? 0 : (int) Math.round((double) filled * shorter / inner.length());
            line = line.substring(0, open + 1) + "=".repeat(newFilled) + " ".repeat(shorter - newFilled)
                    + line.substring(close);
        }
        return line.length() > w ? line.substring(0, w) : line;
    }

    @Override
    public void onImageSaved(int iteration, FloatImage image, Path file) {
        note("iteration " + iteration + ": wrote " + file);
    }

    @Override
    public void onNote(String note) {
        note(note);
    }

    private synchronized void note(String line) {
        if (quiet) {
            return;
        }
        if (lineOpen) {
            // Clear the bar's line, print the note; the bar is drawn again below it at its next update.
            err.print("\r" + " ".repeat(width.getAsInt()) + "\r");
            lineOpen = false;
        }
        err.println(line);
        err.flush();
    }

    /** Ends the bar's line (and the bar) so that what follows starts on its own line. */
    void endLine() {
        me.tongfei.progressbar.ProgressBar b;
        synchronized (this) {
            b = bar;
            bar = null;
        }
        if (b != null) {
            b.close(); // draws the last state once more, through Line (which takes our lock): not under it
        }
        synchronized (this) {
            if (lineOpen) {
                err.println();
                err.flush();
                lineOpen = false;
            }
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
