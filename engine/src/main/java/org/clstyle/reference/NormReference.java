package org.clstyle.reference;

/**
 * Plain-Java twins of ops.InstanceNorm and ops.BatchNorm in double, as PyTorch's nn.InstanceNorm2d
 * (affine) and nn.BatchNorm2d: x [N, C, P] (P = H*W) normalised with the mean and the biased variance
 * of each (image, channel) plane (instance) or of each channel over the batch (batch, training mode),
 * y = gamma[c] (x - mean) / sqrt(var + eps) + beta[c].
 */
public final class NormReference {
    private NormReference() {}

    /** Input and parameter gradients. */
    public record Grads(double[] dx, double[] dGamma, double[] dBeta) {}

    /** Mean and biased variance per group: instance groups are (b, c) planes, batch groups channels. */
    record Stats(double[] mean, double[] var) {}

    static Stats stats(double[] x, int n, int c, int plane, boolean instance) {
        int groups = instance ? n * c : c;
        double[] mean = new double[groups], var = new double[groups];
        int count = instance ? plane : n * plane;
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                int g = instance ? b * c + ch : ch;
                for (int p = 0; p < plane; p++) mean[g] += x[(b * c + ch) * plane + p];
            }
        }
        for (int g = 0; g < groups; g++) mean[g] /= count;
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                int g = instance ? b * c + ch : ch;
                for (int p = 0; p < plane; p++) {
                    double d = x[(b * c + ch) * plane + p] - mean[g];
                    var[g] += d * d;
                }
            }
        }
        for (int g = 0; g < groups; g++) var[g] /= count;
        return new Stats(mean, var);
    }

    static double[] forward(double[] x, int n, int c, int plane, double[] gamma, double[] beta, double eps,
            boolean instance) {
        Conv2dReference.check(x, n * c * plane, "x");
        Stats s = stats(x, n, c, plane, instance);
        double[] y = new double[x.length];
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                int g = instance ? b * c + ch : ch;
                double rstd = 1 / Math.sqrt(s.var()[g] + eps);
                for (int p = 0; p < plane; p++) {
                    int e = (b * c + ch) * plane + p;
                    y[e] = gamma[ch] * (x[e] - s.mean()[g]) * rstd + beta[ch];
                }
            }
        }
        return y;
    }

    static Grads backward(double[] x, double[] dy, int n, int c, int plane, double[] gamma, double eps,
            boolean instance) {
        Conv2dReference.check(dy, x.length, "dy");
        Stats s = stats(x, n, c, plane, instance);
        int groups = s.mean().length, count = instance ? plane : n * plane;
        double[] sumDy = new double[groups], sumDyXhat = new double[groups];
        double[] dGamma = new double[c], dBeta = new double[c];
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                int g = instance ? b * c + ch : ch;
                double rstd = 1 / Math.sqrt(s.var()[g] + eps);
                for (int p = 0; p < plane; p++) {
                    int e = (b * c + ch) * plane + p;
                    double xhat = (x[e] - s.mean()[g]) * rstd;
                    sumDy[g] += dy[e];
                    sumDyXhat[g] += dy[e] * xhat;
                    dGamma[ch] += dy[e] * xhat;
                    dBeta[ch] += dy[e];
                }
            }
        }
        double[] dx = new double[x.length];
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                int g = instance ? b * c + ch : ch;
                double rstd = 1 / Math.sqrt(s.var()[g] + eps);
                for (int p = 0; p < plane; p++) {
                    int e = (b * c + ch) * plane + p;
                    double xhat = (x[e] - s.mean()[g]) * rstd;
                    dx[e] = gamma[ch] * rstd * (dy[e] - sumDy[g] / count - xhat * sumDyXhat[g] / count);
                }
            }
        }
        return new Grads(dx, dGamma, dBeta);
    }

    /** Instance normalisation of x [N, C, P], affine. */
    public static double[] instanceForward(double[] x, int n, int c, int plane, double[] gamma, double[] beta,
            double eps) {
        return forward(x, n, c, plane, gamma, beta, eps, true);
    }

    public static Grads instanceBackward(double[] x, double[] dy, int n, int c, int plane, double[] gamma, double eps) {
        return backward(x, dy, n, c, plane, gamma, eps, true);
    }

    /** Batch normalisation of x [N, C, P] with the batch's statistics (training mode), affine. */
    public static double[] batchForward(double[] x, int n, int c, int plane, double[] gamma, double[] beta, double eps) {
        return forward(x, n, c, plane, gamma, beta, eps, false);
    }

    public static Grads batchBackward(double[] x, double[] dy, int n, int c, int plane, double[] gamma, double eps) {
        return backward(x, dy, n, c, plane, gamma, eps, false);
    }

    /**
     * PyTorch's running statistics update, in place: mean = (1 - m) mean + m batchMean,
     * var = (1 - m) var + m batchVar * M / (M - 1) (the unbiased variance), M = N * P.
     */
    public static void updateRunning(double[] runMean, double[] runVar, double[] x, int n, int c, int plane,
            double momentum) {
        Stats s = stats(x, n, c, plane, false);
        double count = (double) n * plane;
        for (int ch = 0; ch < c; ch++) {
            runMean[ch] = (1 - momentum) * runMean[ch] + momentum * s.mean()[ch];
            runVar[ch] = (1 - momentum) * runVar[ch] + momentum * s.var()[ch] * count / (count - 1);
        }
    }

    /** Batch normalisation with running statistics (inference mode). */
    public static double[] batchInference(double[] x, int n, int c, int plane, double[] gamma, double[] beta,
            double[] runMean, double[] runVar, double eps) {
        double[] y = new double[x.length];
        for (int b = 0; b < n; b++) {
            for (int ch = 0; ch < c; ch++) {
                double rstd = 1 / Math.sqrt(runVar[ch] + eps);
                for (int p = 0; p < plane; p++) {
                    int e = (b * c + ch) * plane + p;
                    y[e] = gamma[ch] * (x[e] - runMean[ch]) * rstd + beta[ch];
                }
            }
        }
        return y;
    }
}
