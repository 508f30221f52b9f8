#include "harness/history/trend_plot.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <numbers>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_util.h"
#include "common/terminal_text.h"
#include "harness/analysis/recurrence.h"

namespace coder::harness {
namespace {

struct SurfaceDeleter {
  void operator()(cairo_surface_t* surface) const { cairo_surface_destroy(surface); }
};
struct ContextDeleter {
  void operator()(cairo_t* cr) const { cairo_destroy(cr); }
};
using SurfacePtr = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using ContextPtr = std::unique_ptr<cairo_t, ContextDeleter>;

struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
  double right() const { return x + w; }
  double bottom() const { return y + h; }
};

struct Rgb {
  double r = 0, g = 0, b = 0;
};

constexpr Rgb Hex(unsigned rgb) {
  return {((rgb >> 16) & 0xff) / 255.0, ((rgb >> 8) & 0xff) / 255.0, (rgb & 0xff) / 255.0};
}

// matplotlib's tab10 without its grey, which would read as the grid.
constexpr Rgb kPalette[] = {Hex(0x1f77b4), Hex(0xff7f0e), Hex(0x2ca02c), Hex(0xd62728), Hex(0x9467bd),
                            Hex(0x8c564b), Hex(0xe377c2), Hex(0xbcbd22), Hex(0x17becf)};
constexpr size_t kPaletteSize = std::size(kPalette);
constexpr Rgb kNotCleanColour = Hex(0xd62728);

constexpr double kTextSize = 11, kTitleSize = 15, kPanelTitleSize = 12;
// The legend's column is wide enough for "websocket-shutdown-timeout", the fingerprint this was made for.
constexpr double kPlotLeft = 80, kPlotRight = kTrendPlotWidth - 240;
constexpr double kLegendLeft = kPlotRight + 14, kLegendRight = kTrendPlotWidth - 8;
constexpr double kPanelsTop = 68, kPanelGap = 44, kXTitleBaseline = kTrendPlotHeight - 10;
// A turned label reaches no farther from its tick, so the panels keep most of the height.
constexpr double kMostLabelWidth = 150;
// Data at 0 or at the axis' top stays clear of the frame, as in matplotlib.
constexpr double kYPad = 5;

// One bucket's value in a panel's unit, with its interval (lower == upper == value when it has none).
struct Point {
  double value = 0, lower = 0, upper = 0;
};

struct Series {
  std::string name;
  Rgb colour;
  int dash = 0;  // 0 solid, 1 dashed, 2 dotted: a second and third cycle of the palette stay apart
  std::vector<std::optional<Point>> points;  // one per bucket
};

// ---- Text -------------------------------------------------------------------------------------------

void SetFont(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double TextWidth(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

// `align`: 0 starts the text at x, 0.5 centres it there, 1 ends it there. `y` is the baseline.
void ShowText(cairo_t* cr, double x, double y, const std::string& text, double align = 0) {
  cairo_move_to(cr, x - align * TextWidth(cr, text), y);
  cairo_show_text(cr, text.c_str());
}

void PopCodePoint(std::string& text) {
  while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xc0) == 0x80) text.pop_back();
  if (!text.empty()) text.pop_back();
}

// Text from the history, drawable: cairo refuses invalid UTF-8 by failing the whole context.
std::string Drawable(std::string_view text, size_t most_bytes = 200) {
  std::string safe = TerminalSafe(text.substr(0, most_bytes));
  if (text.size() > most_bytes) {
    PopCodePoint(safe);  // the cut may have split a sequence into U+FFFD
    safe += "…";
  }
  return safe;
}

std::string Fit(cairo_t* cr, std::string text, double width) {
  if (TextWidth(cr, text) <= width) return text;
  while (!text.empty() && TextWidth(cr, text + "…") > width) PopCodePoint(text);
  return text + "…";
}

std::string GroupThousands(uint64_t n) {
  std::string digits = std::to_string(n);
  for (size_t at = digits.size(); at > 3; at -= 3) digits.insert(at - 3, " ");
  return digits;
}

// ---- Words --------------------------------------------------------------------------------------------

std::string_view Noun(TrendBy by, bool plural) {
  switch (by) {
    case TrendBy::kCommit: return plural ? "commits" : "commit";
    case TrendBy::kDay: return plural ? "days" : "day";
    case TrendBy::kRunner: return plural ? "runners" : "runner";
  }
  return plural ? "buckets" : "bucket";
}

std::string KeyLabel(TrendBy by, const std::string& key) {
  if (key.empty()) return "(unknown)";
  std::string label = Drawable(key);
  if (by != TrendBy::kCommit) return label;
  // A commit's first 7 characters, as git shortens it.
  size_t end = 0;
  for (int chars = 0; end < label.size() && chars < 7; ++chars) {
    ++end;
    while (end < label.size() && (static_cast<unsigned char>(label[end]) & 0xc0) == 0x80) ++end;
  }
  return label.substr(0, end);
}

// A canonical UTC time as a reader says it: the day alone at midnight.
std::string SinceLabel(const std::string& since) {
  if (since.size() < 16 || since[10] != 'T') return Drawable(since);
  if (since.compare(10, 9, "T00:00:00") == 0 && since.find_first_not_of("0.Z", 19) == std::string::npos)
    return since.substr(0, 10);
  return fmt::format("{} {} UTC", since.substr(0, 10), Drawable(since.substr(11, 5)));
}

std::string Title(const Trend& trend) {
  std::string title = fmt::format("coder diag history: by {}, {} run{}", Noun(trend.by, false),
                                  GroupThousands(trend.runs), trend.runs == 1 ? "" : "s");
  if (!trend.since.empty()) title += " since " + SinceLabel(trend.since);
  if (trend.earlier_not_read) title += fmt::format(" (the latest {} {})", trend.buckets.size(), Noun(trend.by, true));
  else if (trend.earlier_buckets > 0)
    title += fmt::format(" (the latest {} of {} {})", trend.buckets.size(),
                         trend.buckets.size() + trend.earlier_buckets, Noun(trend.by, true));
  return title;
}

std::string ConfidenceLabel(double confidence) { return fmt::format("{:g}%", confidence * 100); }

// ---- Series ---------------------------------------------------------------------------------------------

Point Percent(const BucketRate& rate) {
  return {rate.count.rate() * 100, rate.interval.lower * 100, rate.interval.upper * 100};
}

std::vector<Series> FingerprintSeries(const Trend& trend) {
  std::vector<Series> out;
  for (size_t f = 0; f < trend.fingerprints.size(); ++f) {
    Series series{
        Drawable(trend.fingerprints[f]), kPalette[f % kPaletteSize], static_cast<int>(f / kPaletteSize % 3), {}};
    for (const TrendBucket& bucket : trend.buckets) {
      const bool known = f < bucket.rates.size() && bucket.rates[f].count.runs > 0;
      series.points.push_back(known ? std::optional(Percent(bucket.rates[f])) : std::nullopt);
    }
    out.push_back(std::move(series));
  }
  return out;
}

Series NotCleanSeries(const Trend& trend) {
  Series series{"not clean", kNotCleanColour, 0, {}};
  for (const TrendBucket& bucket : trend.buckets) {
    uint64_t clean = 0;
    for (const auto& [outcome, runs] : bucket.outcomes)
      if (outcome == "clean") clean += runs;
    const Proportion count{bucket.runs - std::min(clean, bucket.runs), bucket.runs};
    const bool known = bucket.runs > 0;
    series.points.push_back(known ? std::optional(Percent({count, ClopperPearson(count, trend.confidence)}))
                                  : std::nullopt);
  }
  return series;
}

std::vector<Series> RateSeries(const Trend& trend) {
  if (trend.fingerprints.empty()) return {NotCleanSeries(trend)};
  return FingerprintSeries(trend);
}

std::vector<Series> LatencySeries(const Trend& trend) {
  Series p50{"p50", kPalette[0], 0, {}}, p95{"p95", kPalette[1], 0, {}};
  auto point = [](const std::optional<double>& ms) { return ms ? std::optional(Point{*ms, *ms, *ms}) : std::nullopt; };
  for (const TrendBucket& bucket : trend.buckets) {
    p50.points.push_back(point(bucket.latency_p50_ms));
    p95.points.push_back(point(bucket.latency_p95_ms));
  }
  return {p50, p95};
}

// ---- Axes ---------------------------------------------------------------------------------------------

// A y axis from 0 to a round `top` in round steps, about five of them.
struct YAxis {
  double top = 1, step = 0.2;
};

YAxis NiceYAxis(double highest) {
  if (!(highest > 0) || !std::isfinite(highest)) highest = 1;
  const double raw = highest / 5;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * magnitude;
  return {std::ceil(highest / step - 1e-9) * step, step};
}

std::string TickLabel(double value, double step, std::string_view unit) {
  int decimals = 0;
  while (decimals < 6 && std::abs(step * std::pow(10, decimals) - std::round(step * std::pow(10, decimals))) > 1e-6)
    ++decimals;
  if (decimals == 0) return GroupThousands(static_cast<uint64_t>(std::llround(value))) + std::string(unit);
  return fmt::format("{:.{}f}{}", value, decimals, unit);
}

// The buckets along x: a slot each, labelled every `every` slot counted back from the latest.
struct XAxis {
  double left = 0, width = 0;
  size_t buckets = 0, every = 1;
  bool turned = false;
  std::vector<std::string> labels;
  std::vector<bool> dropped;  // a label too long to show whole among thinned ones
  double height = 0;          // of the labels under the axis

  double slot() const { return width / static_cast<double>(buckets); }
  double At(size_t i) const { return left + slot() * (static_cast<double>(i) + 0.5); }
  bool Labelled(size_t i) const { return (buckets - 1 - i) % every == 0 && !dropped[i]; }
};

XAxis MakeXAxis(cairo_t* cr, const Trend& trend) {
  XAxis x{kPlotLeft, kPlotRight - kPlotLeft, trend.buckets.size(), 1, false, {}, {}, 0};
  x.dropped.assign(x.buckets, false);
  SetFont(cr, kTextSize);
  double widest = 0;
  for (const TrendBucket& bucket : trend.buckets) {
    x.labels.push_back(Fit(cr, KeyLabel(trend.by, bucket.key), kMostLabelWidth));
    widest = std::max(widest, TextWidth(cr, x.labels.back()));
  }
  if (widest + 4 <= x.slot()) {
    x.height = kTextSize + 6;
    return x;
  }
  // Turned 45°, neighbours stay apart by about a line and a half measured along x.
  x.turned = true;
  x.every = static_cast<size_t>(std::ceil(kTextSize * 1.6 / x.slot()));
  widest = 0;
  for (size_t i = 0; i < x.buckets; ++i) {
    if (!x.Labelled(i)) continue;
    // The first labels are cut to stay inside the picture; among thinned ones a cut one is left out, as
    // its neighbours say where it is.
    const std::string whole = x.labels[i];
    x.labels[i] = Fit(cr, whole, std::min(kMostLabelWidth, (x.At(i) - 4) / std::numbers::sqrt2));
    if (x.every > 1 && x.labels[i] != whole) {
      x.dropped[i] = true;
      continue;
    }
    widest = std::max(widest, TextWidth(cr, x.labels[i]));
  }
  x.height = (widest + kTextSize) / std::numbers::sqrt2 + 8;
  return x;
}

// The panels share the height the x labels leave, the rates taking the larger part.
struct Layout {
  Rect rates, latency;
};

Layout MakeLayout(const XAxis& x) {
  const double latency_bottom = kXTitleBaseline - kTextSize - 8 - x.height;
  const double both = latency_bottom - kPanelsTop - kPanelGap;
  const double rates = std::round(both * 0.64);
  return {{kPlotLeft, kPanelsTop, x.width, rates},
          {kPlotLeft, kPanelsTop + rates + kPanelGap, x.width, std::round(both - rates)}};
}

// ---- Drawing --------------------------------------------------------------------------------------------

void SetColour(cairo_t* cr, Rgb c, double alpha = 1) { cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha); }
void SetGrey(cairo_t* cr, double level) { cairo_set_source_rgb(cr, level, level, level); }

void SetDash(cairo_t* cr, int dash) {
  static constexpr double kDashed[] = {6, 3}, kDotted[] = {1.5, 2.5};
  if (dash == 1) cairo_set_dash(cr, kDashed, 2, 0);
  else if (dash == 2) cairo_set_dash(cr, kDotted, 2, 0);
  else cairo_set_dash(cr, nullptr, 0, 0);
}

void Line(cairo_t* cr, double x0, double y0, double x1, double y1) {
  cairo_move_to(cr, x0, y0);
  cairo_line_to(cr, x1, y1);
  cairo_stroke(cr);
}

double Y(const Rect& area, const YAxis& y, double value) {
  return area.bottom() - kYPad - (area.h - 2 * kYPad) * value / y.top;
}

void DrawYGrid(cairo_t* cr, const Rect& area, const YAxis& y, std::string_view unit) {
  SetFont(cr, kTextSize);
  cairo_set_line_width(cr, 1);
  const int ticks = static_cast<int>(std::lround(y.top / y.step));
  for (int i = 0; i <= ticks; ++i) {
    // Half-pixel positions keep one-pixel lines crisp in the PNG.
    const double at = std::round(Y(area, y, i * y.step)) + 0.5;
    SetGrey(cr, 0.9);
    Line(cr, area.x, at, area.right(), at);
    SetGrey(cr, 0.25);
    Line(cr, area.x - 4, at, area.x, at);
    ShowText(cr, area.x - 7, at + kTextSize * 0.36, TickLabel(i * y.step, y.step, unit), 1);
  }
}

void DrawXGrid(cairo_t* cr, const Rect& area, const XAxis& x) {
  cairo_set_line_width(cr, 1);
  for (size_t i = 0; i < x.buckets; ++i) {
    if (!x.Labelled(i)) continue;
    const double at = std::round(x.At(i)) + 0.5;
    SetGrey(cr, 0.93);
    Line(cr, at, area.y, at, area.bottom());
    SetGrey(cr, 0.25);
    Line(cr, at, area.bottom(), at, area.bottom() + 4);
  }
}

void DrawFrame(cairo_t* cr, const Rect& area) {
  SetGrey(cr, 0.25);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, std::round(area.x) + 0.5, std::round(area.y) + 0.5, std::round(area.w), std::round(area.h));
  cairo_stroke(cr);
}

void DrawPanelLabels(cairo_t* cr, const Rect& area, const std::string& title, const std::string& y_label) {
  SetGrey(cr, 0.1);
  SetFont(cr, kPanelTitleSize, true);
  ShowText(cr, area.x, area.y - 8, title);
  SetFont(cr, kTextSize);
  cairo_save(cr);
  cairo_translate(cr, 20, area.y + area.h / 2);
  cairo_rotate(cr, -std::numbers::pi / 2);
  ShowText(cr, 0, 0, y_label, 0.5);
  cairo_restore(cr);
}

void DrawMarker(cairo_t* cr, double x, double y, double radius) {
  cairo_new_sub_path(cr);
  cairo_arc(cr, x, y, radius, 0, 2 * std::numbers::pi);
  cairo_fill(cr);
}

// Where a series' points sit in their slot: side by side, so equal rates keep their bars apart.
double Dodge(const XAxis& x, size_t index, size_t count) {
  const double spacing = std::min(6.0, x.slot() * 0.5 / static_cast<double>(count));
  return (static_cast<double>(index) - static_cast<double>(count - 1) / 2) * spacing;
}

void DrawErrorBars(cairo_t* cr, const Series& series, const Rect& area, const YAxis& y, const XAxis& x, double dodge) {
  SetColour(cr, series.colour, 0.65);
  SetDash(cr, 0);
  cairo_set_line_width(cr, 1.2);
  const double cap = std::min(3.0, x.slot() * 0.15);
  for (size_t i = 0; i < series.points.size(); ++i) {
    if (!series.points[i]) continue;
    const double at = x.At(i) + dodge, low = Y(area, y, series.points[i]->lower),
                 high = Y(area, y, series.points[i]->upper);
    Line(cr, at, low, at, high);
    Line(cr, at - cap, low, at + cap, low);
    Line(cr, at - cap, high, at + cap, high);
  }
}

// Bars too close to stay apart would merge into a smear: then the interval is a shaded band, cut where
// a bucket has no point.
bool Dense(const XAxis& x) { return x.slot() < 8; }

void DrawBand(cairo_t* cr, const Series& series, const Rect& area, const YAxis& y, const XAxis& x, double dodge) {
  SetColour(cr, series.colour, 0.2);
  const auto& points = series.points;
  for (size_t first = 0; first < points.size();) {
    if (!points[first]) {
      ++first;
      continue;
    }
    size_t end = first;
    while (end < points.size() && points[end]) ++end;
    // A lone point gets a bar's width, so that its interval shows too.
    const double half = end - first == 1 ? 1 : 0;
    for (size_t i = first; i < end; ++i) cairo_line_to(cr, x.At(i) + dodge - half, Y(area, y, points[i]->upper));
    for (size_t i = end; i-- > first;) cairo_line_to(cr, x.At(i) + dodge + half, Y(area, y, points[i]->lower));
    cairo_close_path(cr);
    cairo_fill(cr);
    first = end;
  }
}

void DrawLine(cairo_t* cr, const Series& series, const Rect& area, const YAxis& y, const XAxis& x, double dodge) {
  SetColour(cr, series.colour);
  SetDash(cr, series.dash);
  cairo_set_line_width(cr, 1.8);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  bool started = false;
  for (size_t i = 0; i < series.points.size(); ++i) {
    if (!series.points[i]) continue;
    const double at = x.At(i) + dodge, value = Y(area, y, series.points[i]->value);
    if (started) cairo_line_to(cr, at, value);
    else cairo_move_to(cr, at, value);
    started = true;
  }
  cairo_stroke(cr);
  SetDash(cr, 0);
  // Markers a pixel apart would only thicken the line.
  if (x.slot() < 4) return;
  const double radius = std::clamp(x.slot() * 0.3, 1.2, 3.2);
  for (size_t i = 0; i < series.points.size(); ++i)
    if (series.points[i]) DrawMarker(cr, x.At(i) + dodge, Y(area, y, series.points[i]->value), radius);
}

void DrawLegendEntry(cairo_t* cr, const Series& series, double top) {
  const double middle = top + 9;
  SetColour(cr, series.colour);
  SetDash(cr, series.dash);
  cairo_set_line_width(cr, 1.8);
  Line(cr, kLegendLeft + 6, middle, kLegendLeft + 28, middle);
  SetDash(cr, 0);
  DrawMarker(cr, kLegendLeft + 17, middle, 3.2);
  SetGrey(cr, 0.1);
  const double text_left = kLegendLeft + 34;
  ShowText(cr, text_left, middle + kTextSize * 0.36, Fit(cr, series.name, kLegendRight - text_left - 4));
}

// Beside the panel, never over its data; as many entries as its height holds, then a count of the rest.
void DrawLegend(cairo_t* cr, const std::vector<Series>& series, const Rect& area) {
  constexpr double kRow = 18;
  const size_t fits = static_cast<size_t>((area.h - 8) / kRow);
  const size_t shown = series.size() <= fits ? series.size() : fits - 1;
  const double height = kRow * static_cast<double>(series.size() <= fits ? shown : shown + 1) + 8;
  SetGrey(cr, 0.8);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, kLegendLeft + 0.5, area.y + 0.5, kLegendRight - kLegendLeft, std::round(height));
  cairo_stroke(cr);
  SetFont(cr, kTextSize);
  for (size_t i = 0; i < shown; ++i) DrawLegendEntry(cr, series[i], area.y + 4 + kRow * static_cast<double>(i));
  if (shown < series.size()) {
    SetGrey(cr, 0.35);
    ShowText(cr, kLegendLeft + 6, area.y + 4 + kRow * static_cast<double>(shown) + 9 + kTextSize * 0.36,
             fmt::format("and {} more", series.size() - shown));
  }
}

struct PanelSpec {
  Rect area;
  std::string title, y_label;
  std::string_view unit;
  double least_top = 0;  // the y axis reaches at least this high
  bool intervals = false;
  std::string_view empty_message;
};

double Highest(const std::vector<Series>& series) {
  double highest = 0;
  for (const Series& s : series)
    for (const auto& point : s.points)
      if (point) highest = std::max(highest, point->upper);
  return highest;
}

void DrawPanel(cairo_t* cr, const PanelSpec& spec, const std::vector<Series>& series, const XAxis& x) {
  DrawPanelLabels(cr, spec.area, spec.title, spec.y_label);
  const bool empty = std::none_of(series.begin(), series.end(), [](const Series& s) {
    return std::any_of(s.points.begin(), s.points.end(), [](const auto& p) { return p.has_value(); });
  });
  DrawXGrid(cr, spec.area, x);
  if (empty) {
    DrawFrame(cr, spec.area);
    SetGrey(cr, 0.45);
    SetFont(cr, kPanelTitleSize);
    const std::string message(spec.empty_message);
    ShowText(cr, spec.area.x + spec.area.w / 2, spec.area.y + spec.area.h / 2, message, 0.5);
    return;
  }
  const YAxis y = NiceYAxis(std::max(Highest(series), spec.least_top));
  DrawYGrid(cr, spec.area, y, spec.unit);
  DrawFrame(cr, spec.area);
  // Every interval first, so that no series' interval hides another's line.
  for (size_t i = 0; spec.intervals && i < series.size(); ++i) {
    const double dodge = Dodge(x, i, series.size());
    if (Dense(x)) DrawBand(cr, series[i], spec.area, y, x, dodge);
    else DrawErrorBars(cr, series[i], spec.area, y, x, dodge);
  }
  for (size_t i = 0; i < series.size(); ++i) DrawLine(cr, series[i], spec.area, y, x, Dodge(x, i, series.size()));
  DrawLegend(cr, series, spec.area);
}

void DrawXLabels(cairo_t* cr, const XAxis& x, double top, TrendBy by) {
  SetFont(cr, kTextSize);
  SetGrey(cr, 0.1);
  for (size_t i = 0; i < x.buckets; ++i) {
    if (!x.Labelled(i)) continue;
    if (!x.turned) {
      ShowText(cr, x.At(i), top + kTextSize + 4, x.labels[i], 0.5);
      continue;
    }
    // Turned to end at its tick, each label reads up towards it.
    cairo_save(cr);
    cairo_translate(cr, x.At(i) + kTextSize * 0.25, top + 4);
    cairo_rotate(cr, -std::numbers::pi / 4);
    ShowText(cr, 0, kTextSize * 0.75, x.labels[i], 1);
    cairo_restore(cr);
  }
  SetFont(cr, kTextSize, true);
  const std::string title = by == TrendBy::kDay ? "day (UTC)" : std::string(Noun(by, false));
  ShowText(cr, x.left + x.width / 2, kXTitleBaseline, title, 0.5);
}

std::string PerBucket(const Trend& trend) { return fmt::format("per {}", Noun(trend.by, false)); }

void DrawTrend(cairo_t* cr, const Trend& trend) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  SetGrey(cr, 0.05);
  SetFont(cr, kTitleSize, true);
  ShowText(cr, kTrendPlotWidth / 2.0, 30, Fit(cr, Title(trend), kTrendPlotWidth - 20), 0.5);
  if (trend.buckets.empty()) {
    SetGrey(cr, 0.45);
    SetFont(cr, 20);
    ShowText(cr, kTrendPlotWidth / 2.0, kTrendPlotHeight / 2.0, "no runs", 0.5);
    return;
  }
  const XAxis x = MakeXAxis(cr, trend);
  const Layout layout = MakeLayout(x);
  const std::string interval =
      fmt::format("{}: {} Clopper–Pearson interval", Dense(x) ? "band" : "bars", ConfidenceLabel(trend.confidence));
  const std::string rate_title = trend.fingerprints.empty()
                                     ? fmt::format("Runs not clean {} ({})", PerBucket(trend), interval)
                                     : fmt::format("Fingerprint rate {} ({})", PerBucket(trend), interval);
  DrawPanel(cr, {layout.rates, rate_title, "rate (%)", "%", 1, true, "no runs"}, RateSeries(trend), x);
  DrawPanel(
      cr,
      {layout.latency, fmt::format("Shutdown latency {} (p50 and p95 of the runs that have one)", PerBucket(trend)),
       "latency (ms)", "", 0, false, "no latency recorded"},
      LatencySeries(trend), x);
  DrawXLabels(cr, x, layout.latency.bottom(), trend.by);
}

// ---- Files ----------------------------------------------------------------------------------------------

cairo_status_t AppendTo(void* closure, const unsigned char* data, unsigned int length) {
  // An exception must not unwind through cairo's C frames.
  try {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
  } catch (...) {
    return CAIRO_STATUS_NO_MEMORY;
  }
}

Error CairoError(const std::filesystem::path& path, std::string_view doing, cairo_status_t status) {
  return Error{fmt::format("plot {}: {}: {}", path.string(), doing, cairo_status_to_string(status))};
}

// Draws on `surface`; cairo keeps the first failure in the context, so one check at the end sees any.
Status Draw(cairo_surface_t* surface, const Trend& trend, const std::filesystem::path& path) {
  if (cairo_status_t status = cairo_surface_status(surface); status != CAIRO_STATUS_SUCCESS)
    return CairoError(path, "cannot make the surface", status);
  ContextPtr cr(cairo_create(surface));
  DrawTrend(cr.get(), trend);
  if (cairo_status_t status = cairo_status(cr.get()); status != CAIRO_STATUS_SUCCESS)
    return CairoError(path, "cannot draw", status);
  return Ok{};
}

Result<std::string> RenderPng(const Trend& trend, const std::filesystem::path& path) {
  SurfacePtr surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, kTrendPlotWidth, kTrendPlotHeight));
  if (auto drawn = Draw(surface.get(), trend, path); !drawn) return drawn.error();
  std::string png;
  if (cairo_status_t status = cairo_surface_write_to_png_stream(surface.get(), AppendTo, &png);
      status != CAIRO_STATUS_SUCCESS)
    return CairoError(path, "cannot encode the PNG", status);
  return png;
}

Result<std::string> RenderSvg(const Trend& trend, const std::filesystem::path& path) {
  std::string svg;
  SurfacePtr surface(cairo_svg_surface_create_for_stream(AppendTo, &svg, kTrendPlotWidth, kTrendPlotHeight));
  // cairo 1.16 would write points, which a browser shows a third larger than the PNG.
  cairo_svg_surface_set_document_unit(surface.get(), CAIRO_SVG_UNIT_PX);
  if (auto drawn = Draw(surface.get(), trend, path); !drawn) return drawn.error();
  cairo_surface_finish(surface.get());
  if (cairo_status_t status = cairo_surface_status(surface.get()); status != CAIRO_STATUS_SUCCESS)
    return CairoError(path, "cannot write the SVG", status);
  return svg;
}

std::string LowerExtension(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension;
}

}  // namespace

Status WriteTrendPlot(const Trend& trend, const std::filesystem::path& path) {
  const std::string extension = LowerExtension(path);
  if (extension != ".png" && extension != ".svg")
    return Error{
        fmt::format("plot {}: {}: the file's name must end in .png or .svg", path.string(),
                    extension.empty() ? "no format" : fmt::format("unknown format \"{}\"", Drawable(extension)))};
  auto image = extension == ".png" ? RenderPng(trend, path) : RenderSvg(trend, path);
  if (!image) return image.error();
  // Atomically, as every report is written: a failed or interrupted write never leaves a torn picture.
  return WriteFileAtomically(path, *image);
}

}  // namespace coder::harness
