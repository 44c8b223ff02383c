package org.clstyle.loss;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One evaluation of the loss: the weighted total and the raw (unweighted) terms, content and style per
 * layer (in recipe order), and total variation.
 */
public record LossValues(double total, Map<String, Double> content, Map<String, Double> style, double tv) {
    public LossValues {
        content = Collections.unmodifiableMap(new LinkedHashMap<>(content));
        style = Collections.unmodifiableMap(new LinkedHashMap<>(style));
    }
}
