#pragma once

#include <filesystem>

#include "common/result.h"
#include "harness/history/history_trend.h"

namespace coder::harness {

/// The size of every trend plot, in pixels (an SVG's user units are pixels too).
inline constexpr int kTrendPlotWidth = 1000;
inline constexpr int kTrendPlotHeight = 700;

/// Draws `trend` to `path`, PNG or SVG by its extension (.png, .svg, in any case; anything else is an Error naming
/// it), kTrendPlotWidth × kTrendPlotHeight on white:
/// - a title: what the buckets are, the window's runs and its start, how many buckets were left out;
/// - above, each fingerprint's rate per bucket in % (from 0), a line with points and error bars for its interval
///   (a shaded band when the buckets are too many for bars to stay apart), a colour each with a legend beside the
///   panel; a trend without fingerprints shows the rate of the runs that were not clean instead ("not clean": runs
///   minus `outcomes`' "clean"), its interval Clopper–Pearson at `trend.confidence`;
/// - below, latency p50 and p95 in ms, a line each; a bucket without a latency has no point;
/// - along x, the buckets in order, labelled with their keys (a commit's first 7 characters, "(unknown)" for an
///   empty key), turned 45° and thinned, the latest always kept, when they would not fit side by side.
/// A trend without buckets is a picture saying "no runs", not an error. Text from the history (keys, fingerprint
/// names) is drawn terminal-safe and cut with "…" where it would not fit.
/// The file is written atomically (common/file_util.h): on an Error (which names `path` and the cause, cairo's
/// or the system's) whatever was at `path` is untouched. Thread-safe.
Status WriteTrendPlot(const Trend& trend, const std::filesystem::path& path);

}  // namespace coder::harness
