package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.clstyle.loss.LossValues;
import org.clstyle.transfer.ProgressListener;
import org.junit.jupiter.api.Test;

/** The progress output: fixed-width terminal lines (no junk, no wrap) and weighted terms in the log. */
class ProgressBarTest {
    static ProgressListener.Progress progress(int i, int total, double loss) {
        LossValues v = new LossValues(loss, Map.of("relu4_2", 1.0), Map.of("relu1_1", 2.0), 3.0);
        return new ProgressListener.Progress(1, 1, 32, 32, i, total, v,
                new ProgressListener.Weighted(loss * 0.5, loss * 0.3, loss * 0.2), Duration.ofSeconds(i),
                Duration.ofSeconds(total - i));
    }

    @Test
    void terminalLinesAreExactlyTheWidthAndNotesGoAbove() {
        StringWriter out = new StringWriter();
        ProgressBar bar = new ProgressBar(new PrintWriter(out, true), true, 10, false, () -> 40);
        bar.onIteration(progress(1, 3, 1.2345678e10));
        bar.onNote("a note");
        bar.onIteration(progress(2, 3, 5));        // a much shorter loss text
        bar.onIteration(progress(3, 3, 4.5));
        bar.endLine();
        String s = out.toString();
        assertTrue(s.contains("a note\n"), s);
        assertTrue(s.endsWith("\n"), "the bar's line is ended: " + s);
        for (String line : s.split("\n")) {
            for (String segment : line.split("\r")) {
                if (!segment.isEmpty() && !segment.equals("a note")) {
                    assertEquals(40, segment.length(), "every redraw fills the width exactly: '" + segment + "'");
                }
            }
        }
        assertTrue(s.contains("stylize 100% [] 3/3"), s); // the last state: 40 columns leave no room for a bar
    }

    @Test
    void tooWideLinesLoseBarFirst() {
        String r = "task  50% [==========          ] 5/10 (0:00:01 / 0:00:01) loss 3";
        String f = ProgressBar.fit(r, r.length() - 10);
        assertEquals("task  50% [=====     ] 5/10 (0:00:01 / 0:00:01) loss 3", f);
        assertEquals("task  50% [] 5/10 (0", ProgressBar.fit(r, 20));
        assertEquals(20, ProgressBar.fit(r, 20).length());
        assertEquals(r, ProgressBar.fit(r, 200));
    }

    @Test
    void logLinesShowTheWeightedTermsThatSumToTheTotal() {
        StringWriter out = new StringWriter();
        ProgressBar bar = new ProgressBar(new PrintWriter(out, true), false, 2, false, () -> 80);
        for (int i = 1; i <= 3; i++) {
            bar.onIteration(progress(i, 3, 100));
        }
        String s = out.toString();
        assertEquals(2, s.lines().count(), s); // iteration 2 (every 2) and 3 (the last)
        Matcher m = Pattern.compile("loss (\\S+) = content (\\S+) \\+ style (\\S+) \\+ tv (\\S+)").matcher(s);
        assertTrue(m.find(), s);
        double sum = Double.parseDouble(m.group(2)) + Double.parseDouble(m.group(3)) + Double.parseDouble(m.group(4));
        assertEquals(Double.parseDouble(m.group(1)), sum, 1e-9, s);
    }

    @Test
    void quietPrintsNothing() {
        StringWriter out = new StringWriter();
        ProgressBar bar = new ProgressBar(new PrintWriter(out, true), true, 1, true, () -> 50);
        bar.onIteration(progress(1, 1, 1));
        bar.onNote("x");
        bar.endLine();
        assertEquals("", out.toString());
    }
}
