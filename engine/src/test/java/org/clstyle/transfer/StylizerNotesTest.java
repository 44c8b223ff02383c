package org.clstyle.transfer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The first-hour remarks: the long-run estimate with its --size suggestion, and sortable snapshot names. */
class StylizerNotesTest {
    static Stylizer stylizer(StylizeSettings.Builder b) {
        return new Stylizer(b.styles(List.of(Path.of("s.png"))).output(Path.of("o.png")).build(), null);
    }

    @Test
    void longRunNoteGivesTheEstimateAndASmallerSize() {
        Stylizer st = stylizer(StylizeSettings.builder().content(Path.of("c.png")));
        String n = st.longRunNote(1200, 2.4, 512, 384);
        assertTrue(n.startsWith("this run will take about 20 min more (2.40 s per iteration at 512x384, measured on the second"), n);
        assertTrue(n.contains("--size 256 would take about 5 min"), n);
        Stylizer tex = stylizer(StylizeSettings.builder().textureSize(1024, 512).size(1024));
        assertTrue(tex.longRunNote(7200, 14.4, 1024, 512).contains("--size 512x256 would take about 30 min"),
                tex.longRunNote(7200, 14.4, 1024, 512));
        Stylizer small = stylizer(StylizeSettings.builder().content(Path.of("c.png")).size(24));
        assertFalse(small.longRunNote(600, 1.2, 24, 24).contains("--size"), "no suggestion below the minimum side");
        assertTrue(Stylizer.LONG_RUN_SECONDS >= 60);
    }

    @Test
    void snapshotNamesAreZeroPaddedToTheTotal() {
        assertEquals(Path.of("d/out_005.png"), Stylizer.numbered(Path.of("d/out.png"), 5, 500));
        assertEquals(Path.of("out_500.jpg"), Stylizer.numbered(Path.of("out.jpg"), 500, 500));
        assertEquals(Path.of("out_7.png"), Stylizer.numbered(Path.of("out.png"), 7, 9));
    }
}
