package org.clstyle.cli;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.util.List;
import org.clstyle.image.FloatImage;
import org.clstyle.image.Images;

/**
 * Images side by side (up to {@link #COLUMNS} per row) with a label under each and a title line on
 * top, drawn with java.awt into one image.
 */
final class LayerGrid {
    static final int COLUMNS = 6;
    private static final int GAP = 4, LABEL = 16, TITLE = 18;

    private LayerGrid() {}

    static FloatImage compose(List<FloatImage> cells, List<String> labels, String title) {
        int cw = 0, chh = 0;
        for (FloatImage c : cells) {
            cw = Math.max(cw, c.width());
            chh = Math.max(chh, c.height());
        }
        int cols = Math.min(COLUMNS, cells.size()), rows = (cells.size() + cols - 1) / cols;
        int w = cols * cw + (cols + 1) * GAP, h = TITLE + rows * (chh + LABEL + GAP) + GAP;
        Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 11);
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, w, h);
            g.setColor(Color.BLACK);
            g.setFont(font);
            FontMetrics fm = g.getFontMetrics();
            g.drawString(fit(title, fm, w - 2 * GAP), GAP, TITLE - 5);
            for (int k = 0; k < cells.size(); k++) {
                int x = GAP + (k % cols) * (cw + GAP), y = TITLE + (k / cols) * (chh + LABEL + GAP);
                g.drawImage(Images.toBuffered(cells.get(k)), x, y, null);
                String label = fit(labels.get(k), fm, cw);
                g.drawString(label, x + (cw - fm.stringWidth(label)) / 2, y + chh + LABEL - 4);
            }
        } finally {
            g.dispose();
        }
        return fromBuffered(out);
    }

    private static String fit(String s, FontMetrics fm, int width) {
        String t = s;
        while (t.length() > 1 && fm.stringWidth(t) > width) {
            t = t.substring(0, t.length() - 2) + "…";
        }
        return t;
    }

    private static FloatImage fromBuffered(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        float[] d = new float[3 * w * h];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                int rgb = img.getRGB(j, i);
                d[(0 * h + i) * w + j] = ((rgb >> 16) & 255) / 255f;
                d[(1 * h + i) * w + j] = ((rgb >> 8) & 255) / 255f;
                d[(2 * h + i) * w + j] = (rgb & 255) / 255f;
            }
        return new FloatImage(w, h, d);
    }
}
