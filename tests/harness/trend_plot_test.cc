#include "harness/history/trend_plot.h"

#include <cairo.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "tests/support/temp_dir.h"

namespace coder::harness {
namespace {

struct SurfaceDeleter {
  void operator()(cairo_surface_t* surface) const { cairo_surface_destroy(surface); }
};
using SurfacePtr = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;

// A part of the picture as fractions of its width and height, so the tests hold whatever the margins.
struct Region {
  double left, top, right, bottom;
};
// The upper half of the rate panel, left of its legend: only a rate well above 0 reaches it.
constexpr Region kHighRates{0.1, 0.1, 0.75, 0.3};
// The latency panel, left of its legend, when the x labels are side by side.
constexpr Region kLatencyPanel{0.1, 0.66, 0.75, 0.9};
// Under the latency panel, when the labels are days turned 45°: the x labels.
constexpr Region kXLabels{0.08, 0.88, 0.8, 0.96};

TrendBucket Bucket(const std::string& key, uint64_t runs, const std::vector<uint64_t>& hits,
                   std::optional<double> latency_ms = std::nullopt) {
  TrendBucket bucket;
  bucket.key = key;
  bucket.runs = runs;
  uint64_t any = 0;
  for (uint64_t h : hits) {
    const Proportion count{h, runs};
    bucket.rates.push_back({count, ClopperPearson(count)});
    any = std::max(any, h);
  }
  if (runs > any) bucket.outcomes.emplace_back("clean", runs - any);
  if (any > 0) bucket.outcomes.emplace_back("timeout-fingerprint", any);
  if (latency_ms) {
    bucket.latency_p50_ms = *latency_ms;
    bucket.latency_p95_ms = *latency_ms * 1.2;
  }
  return bucket;
}

// Six commits of 10 000 runs each; `hits` of them matched the fingerprint in the fourth.
Trend SixCommits(uint64_t hits) {
  Trend trend;
  trend.fingerprints = {"websocket-shutdown-timeout"};
  for (int i = 0; i < 6; ++i)
    trend.buckets.push_back(Bucket(fmt::format("{:040x}", 0xabc000 + i), 10'000, {i == 3 ? hits : 0}));
  trend.runs = 60'000;
  return trend;
}

SurfacePtr ReadPng(const std::filesystem::path& path) {
  SurfacePtr surface(cairo_image_surface_create_from_png(path.c_str()));
  EXPECT_EQ(cairo_surface_status(surface.get()), CAIRO_STATUS_SUCCESS) << path;
  return surface;
}

// Pixels a line of data draws: saturated, unlike the text, the grid and the background (black to white).
bool Coloured(uint32_t pixel) {
  const int r = (pixel >> 16) & 0xff, g = (pixel >> 8) & 0xff, b = pixel & 0xff;
  return std::max({r, g, b}) - std::min({r, g, b}) > 60;
}
bool Inked(uint32_t pixel) { return (pixel & 0xffffff) != 0xffffff; }

// The share of `region`'s pixels for which `test` holds.
template <class Test>
double Share(cairo_surface_t* surface, Region region, Test test) {
  cairo_surface_flush(surface);
  const int width = cairo_image_surface_get_width(surface), height = cairo_image_surface_get_height(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  const unsigned char* data = cairo_image_surface_get_data(surface);
  if (data == nullptr) return 0;
  size_t hits = 0, all = 0;
  for (int y = static_cast<int>(region.top * height); y < static_cast<int>(region.bottom * height); ++y) {
    const auto* row = reinterpret_cast<const uint32_t*>(data + static_cast<ptrdiff_t>(y) * stride);
    for (int x = static_cast<int>(region.left * width); x < static_cast<int>(region.right * width); ++x, ++all)
      hits += test(row[x]) ? 1 : 0;
  }
  return all == 0 ? 0 : static_cast<double>(hits) / static_cast<double>(all);
}

uint32_t BigEndian32(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes.at(at + i));
  return value;
}

class TrendPlotTest : public testing::Test {
 protected:
  // Writes `trend` to a PNG of the test's directory, failing the test on an Error.
  SurfacePtr Plot(const Trend& trend, const std::string& name = "trend.png") {
    const auto path = dir_.path() / name;
    auto written = WriteTrendPlot(trend, path);
    EXPECT_TRUE(written.ok()) << written.error().message;
    return ReadPng(path);
  }

  test_support::TempDir dir_;
};

TEST_F(TrendPlotTest, WritesAPngOfTheTrendsSize) {
  const auto path = dir_.path() / "trend.png";
  auto written = WriteTrendPlot(SixCommits(0), path);
  ASSERT_TRUE(written.ok()) << written.error().message;
  auto bytes = ReadFile(path);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  ASSERT_GT(bytes->size(), 24u);
  EXPECT_EQ(bytes->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(bytes->substr(12, 4), "IHDR");  // the first chunk, as PNG requires
  EXPECT_EQ(BigEndian32(*bytes, 16), static_cast<uint32_t>(kTrendPlotWidth));
  EXPECT_EQ(BigEndian32(*bytes, 20), static_cast<uint32_t>(kTrendPlotHeight));
}

TEST_F(TrendPlotTest, WritesAnSvgDocumentOfTheTrendsSize) {
  const auto path = dir_.path() / "trend.svg";
  auto written = WriteTrendPlot(SixCommits(5'000), path);
  ASSERT_TRUE(written.ok()) << written.error().message;
  auto text = ReadFile(path);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(text->rfind("<?xml", 0), 0u) << text->substr(0, 100);
  const size_t svg = text->find("<svg");
  ASSERT_NE(svg, std::string::npos);
  const std::string head = text->substr(svg, text->find('>', svg) - svg);
  EXPECT_NE(head.find(fmt::format("width=\"{}px\"", kTrendPlotWidth)), std::string::npos) << head;
  EXPECT_NE(head.find(fmt::format("height=\"{}px\"", kTrendPlotHeight)), std::string::npos) << head;
  EXPECT_NE(text->find("</svg>"), std::string::npos) << "finished";
}

TEST_F(TrendPlotTest, TheExtensionChoosesTheFormatInAnyCase) {
  auto surface = Plot(SixCommits(0), "TREND.PNG");
  ASSERT_TRUE(surface);
  EXPECT_EQ(cairo_image_surface_get_width(surface.get()), kTrendPlotWidth);
}

TEST_F(TrendPlotTest, AHighRateIsDrawnHighInTheRatePanel) {
  auto none = Plot(SixCommits(0), "none.png");
  auto half = Plot(SixCommits(5'000), "half.png");
  ASSERT_TRUE(none && half);
  EXPECT_EQ(Share(none.get(), kHighRates, Coloured), 0.0);
  EXPECT_GT(Share(half.get(), kHighRates, Coloured), 0.0005);
  // The rate of 0 is drawn too, along the panel's foot.
  EXPECT_GT(Share(none.get(), {0.1, 0.3, 0.75, 0.62}, Coloured), 0.0005);
}

TEST_F(TrendPlotTest, WithoutFingerprintsTheRateOfRunsNotCleanIsDrawn) {
  Trend clean = SixCommits(0), crashing = SixCommits(0);
  clean.fingerprints.clear();
  crashing.fingerprints.clear();
  for (size_t i = 0; i < 6; ++i) {
    clean.buckets[i].rates.clear();
    crashing.buckets[i].rates.clear();
  }
  crashing.buckets[3].outcomes = {{"clean", 2'000}, {"crashed", 8'000}};
  auto calm = Plot(clean, "clean.png");
  auto failing = Plot(crashing, "crashing.png");
  ASSERT_TRUE(calm && failing);
  EXPECT_EQ(Share(calm.get(), kHighRates, Coloured), 0.0);
  EXPECT_GT(Share(failing.get(), kHighRates, Coloured), 0.0005);
}

TEST_F(TrendPlotTest, LatenciesAreDrawnInTheLowerPanelAndBucketsWithoutOneAreSkipped) {
  Trend without = SixCommits(0), with = SixCommits(0);
  for (size_t i = 0; i < 6; ++i) with.buckets[i].latency_p50_ms = with.buckets[i].latency_p95_ms = 100.0 * i;
  with.buckets[2].latency_p50_ms = with.buckets[2].latency_p95_ms = std::nullopt;
  auto blank = Plot(without, "without.png");
  auto drawn = Plot(with, "with.png");
  ASSERT_TRUE(blank && drawn);
  EXPECT_EQ(Share(blank.get(), kLatencyPanel, Coloured), 0.0);
  EXPECT_GT(Share(drawn.get(), kLatencyPanel, Coloured), 0.0005);
}

TEST_F(TrendPlotTest, AnEmptyTrendIsAPictureSayingNoRuns) {
  Trend empty;
  auto surface = Plot(empty, "empty.png");
  ASSERT_TRUE(surface);
  EXPECT_EQ(cairo_image_surface_get_width(surface.get()), kTrendPlotWidth);
  EXPECT_EQ(cairo_image_surface_get_height(surface.get()), kTrendPlotHeight);
  EXPECT_GT(Share(surface.get(), {0.4, 0.45, 0.6, 0.55}, Inked), 0.0) << "the message";
  auto svg = WriteTrendPlot(empty, dir_.path() / "empty.svg");
  EXPECT_TRUE(svg.ok()) << svg.error().message;
}

TEST_F(TrendPlotTest, ManyBucketsHaveTheirLabelsThinnedApart) {
  Trend days;
  days.by = TrendBy::kDay;
  days.fingerprints = {"a", "b"};
  for (int i = 0; i < 300; ++i)
    days.buckets.push_back(Bucket(fmt::format("2026-{:02}-{:02}", 1 + i / 28, 1 + i % 28), 50, {1, 0}, 10.0));
  auto surface = Plot(days);
  ASSERT_TRUE(surface);
  const double ink = Share(surface.get(), kXLabels, Inked);
  EXPECT_GT(ink, 0.01) << "labels are drawn";
  EXPECT_LT(ink, 0.5) << "labels drawn over each other ink nearly all of their strip";
}

TEST_F(TrendPlotTest, KeysAndNamesThatAreNotUtf8AreStillDrawn) {
  // cairo fails a whole drawing on one string that is not UTF-8; a history's text may be anything.
  Trend trend = SixCommits(5'000);
  trend.by = TrendBy::kRunner;
  trend.fingerprints = {"cut \xc3"};
  trend.buckets[0].key = "\xff\xfe runner";
  trend.buckets[1].key = "";
  auto surface = Plot(trend);
  ASSERT_TRUE(surface);
  EXPECT_GT(Share(surface.get(), kHighRates, Coloured), 0.0005);
}

TEST_F(TrendPlotTest, AnUnknownExtensionIsAnErrorNamingThePath) {
  for (const char* name : {"trend.jpg", "trend"}) {
    const auto path = dir_.path() / name;
    auto written = WriteTrendPlot(SixCommits(0), path);
    ASSERT_FALSE(written.ok()) << name;
    EXPECT_NE(written.error().message.find(path.string()), std::string::npos) << written.error().message;
    EXPECT_NE(written.error().message.find(".png or .svg"), std::string::npos) << written.error().message;
    EXPECT_FALSE(std::filesystem::exists(path)) << name;
  }
}

TEST_F(TrendPlotTest, AnUnwritablePathIsAnErrorNamingThePath) {
  for (const char* name : {"trend.png", "trend.svg"}) {
    const auto path = dir_.path() / "missing" / name;
    auto written = WriteTrendPlot(SixCommits(0), path);
    ASSERT_FALSE(written.ok()) << name;
    EXPECT_NE(written.error().message.find(path.string()), std::string::npos) << written.error().message;
    EXPECT_NE(written.error().message.find("No such file or directory"), std::string::npos) << written.error().message;
  }
}

}  // namespace
}  // namespace coder::harness
