#include "harness/report/junit.h"
#include "harness/report/report_view.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/harness/report_fixture.h"
#include "tests/harness/xml_check.h"
#include "tests/support/temp_dir.h"

namespace coder::harness {
namespace {

using nlohmann::json;
using testing::XmlCheck;
using testing::XmlElement;

XmlElement ParseOrFail(const std::string& xml) {
  std::string error;
  auto root = XmlCheck::Parse(xml, &error);
  EXPECT_TRUE(root) << error << "\n" << xml;
  return root.value_or(XmlElement{});
}

const XmlElement* Case(const XmlElement& root, const std::string& name) {
  const XmlElement* suite = root.Child("testsuite");
  if (!suite) return nullptr;
  for (const XmlElement* tc : suite->Children("testcase"))
    if (tc->Attribute("name") == name) return tc;
  return nullptr;
}

std::string Property(const XmlElement& element, const std::string& name) {
  const XmlElement* props = element.Child("properties");
  if (!props) return "";
  for (const XmlElement* p : props->Children("property"))
    if (p->Attribute("name") == name) return p->Attribute("value");
  return "";
}

TEST(JunitTest, OneSuiteWithACasePerVariantThatJunitReadersAccept) {
  const XmlElement root = ParseOrFail(testing::JunitOf(testing::FullSampleReport()));
  EXPECT_EQ(root.name, "testsuites");
  ASSERT_EQ(root.Children("testsuite").size(), 1u);
  const XmlElement& suite = *root.Child("testsuite");
  EXPECT_EQ(suite.Attribute("name"), "coder diag shutdown");
  EXPECT_EQ(suite.Attribute("timestamp"), "2026-11-24T04:19:37");
  for (const char* variant : {"order=patched,gateway=on", "order=unpatched,gateway=on", "order=patched,gateway=off"}) {
    const XmlElement* tc = Case(root, variant);
    ASSERT_NE(tc, nullptr) << variant;
    EXPECT_EQ(tc->Attribute("classname"), "coder.diag.shutdown");
  }
  // 3 variants, the slow run of the gated variant, the budget.
  const auto cases = suite.Children("testcase");
  EXPECT_EQ(cases.size(), 5u);
  EXPECT_EQ(suite.Attribute("tests"), "5");
  EXPECT_EQ(root.Attribute("tests"), "5");
  EXPECT_EQ(suite.Attribute("failures"), "3");  // the gated variant, its slow run, the budget
  EXPECT_EQ(suite.Attribute("errors"), "0");
  EXPECT_EQ(Property(suite, "exit_code"), "1");
}

TEST(JunitTest, GatedVariantWithFindingsFailsNamingTheCounts) {
  const XmlElement root = ParseOrFail(testing::JunitOf(testing::FullSampleReport()));
  const XmlElement* tc = Case(root, "order=patched,gateway=off");
  ASSERT_NE(tc, nullptr);
  const XmlElement* failure = tc->Child("failure");
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->Attribute("type"), "slow");
  EXPECT_NE(failure->Attribute("message").find("1 gated finding in 1 of 4 runs"), std::string::npos)
      << failure->Attribute("message");
  EXPECT_NE(failure->Attribute("message").find("1 slow, 3 clean"), std::string::npos) << failure->Attribute("message");
  EXPECT_NE(failure->text.find("#2 slow: slow: stopped in 6.000s"), std::string::npos) << failure->text;
  EXPECT_EQ(Case(root, "order=patched,gateway=on")->Child("failure"), nullptr);
}

TEST(JunitTest, BaselineNeverFailsAndSaysSo) {
  const XmlElement root = ParseOrFail(testing::JunitOf(testing::FullSampleReport()));
  const XmlElement* tc = Case(root, "order=unpatched,gateway=on");
  ASSERT_NE(tc, nullptr);
  EXPECT_EQ(tc->Child("failure"), nullptr);
  EXPECT_EQ(tc->Child("error"), nullptr);
  ASSERT_NE(tc->Child("system-out"), nullptr);
  const std::string& out = tc->Child("system-out")->text;
  EXPECT_NE(out.find("baseline variant: reported, never gated (4 findings)"), std::string::npos) << out;
  EXPECT_NE(out.find("held wait-group slots: 4 ai-gateway-rpc#1"), std::string::npos) << out;
  // Its runs with findings get no failing cases of their own.
  EXPECT_EQ(Case(root, "order=unpatched,gateway=on #0"), nullptr);
}

TEST(JunitTest, FailingRunHasItsOwnCaseWithDetailAndLogTail) {
  const XmlElement root = ParseOrFail(testing::JunitOf(testing::FullSampleReport()));
  const XmlElement* tc = Case(root, "order=patched,gateway=off #2");
  ASSERT_NE(tc, nullptr);
  ASSERT_NE(tc->Child("failure"), nullptr);
  EXPECT_EQ(tc->Child("failure")->Attribute("message"), "stopped in 6.000s, over the 5s slow threshold");
  EXPECT_EQ(tc->Attribute("time"), "6.000");
  ASSERT_NE(tc->Child("system-out"), nullptr);
  EXPECT_EQ(tc->Child("system-out")->text,
            "last 3 of 12 lines of output:\nStop caught, gracefully exiting\nplain line\nshutdown complete\n");
}

TEST(JunitTest, MetricsAreProperties) {
  const XmlElement root = ParseOrFail(testing::JunitOf(testing::FullSampleReport()));
  const XmlElement* tc = Case(root, "order=patched,gateway=on");
  ASSERT_NE(tc, nullptr);
  EXPECT_EQ(Property(*tc, "latency_p50_ms"), "1.5");
  EXPECT_EQ(Property(*tc, "latency_max_ms"), "8");
  EXPECT_EQ(Property(*tc, "ready_p50_ms"), "40");
  EXPECT_EQ(Property(*tc, "outcome_clean"), "4");
  EXPECT_EQ(Property(*tc, "dominant_step"), "api-drain");
  EXPECT_EQ(Property(*tc, "compared_with"), "order=unpatched,gateway=on");
  EXPECT_EQ(Property(*tc, "suite_shutdown_seconds"), "0.015");
  EXPECT_EQ(Property(*tc, "regression"), "false");
  const XmlElement* baseline = Case(root, "order=unpatched,gateway=on");
  EXPECT_EQ(Property(*baseline, "fingerprint_websocket-shutdown-timeout"), "4");
}

TEST(JunitTest, BudgetCaseFailsWithMeasuredAndProjectedPeaksAgainstTheBudget) {
  const XmlElement root = ParseOrFail(testing::JunitOf(testing::FullSampleReport()));
  const XmlElement* tc = Case(root, "budget");
  ASSERT_NE(tc, nullptr);
  ASSERT_NE(tc->Child("failure"), nullptr);
  const std::string message = tc->Child("failure")->Attribute("message");
  EXPECT_NE(message.find("measured peak 22.0MiB"), std::string::npos) << message;
  EXPECT_NE(message.find("projected with every target at 7.60GiB: peak 30.4GiB"), std::string::npos) << message;
  EXPECT_NE(message.find("budget 17.0GiB"), std::string::npos) << message;
  EXPECT_EQ(Property(*tc, "projected_over_budget"), "true");
  EXPECT_EQ(Property(*tc, "measured_over_budget"), "false");
}

TEST(JunitTest, BudgetCasePassesWhenTheGateDoesNotFailOnBudget) {
  const auto e = testing::MakeSampleExperiment();
  json report = testing::ReportOf(e);
  report["budget"] = testing::SampleBudget();
  report["gate"] = testing::GateOf(e, {"slow"}, true);
  const XmlElement root = ParseOrFail(testing::JunitOf(report));
  const XmlElement* tc = Case(root, "budget");
  ASSERT_NE(tc, nullptr);
  EXPECT_EQ(tc->Child("failure"), nullptr);
  EXPECT_NE(tc->Child("system-out")->text.find("(kind not in --fail-on)"), std::string::npos);
}

TEST(JunitTest, AVariantsOwnBudgetFindingFailsTheBudgetCaseNamingTheVariant) {
  const auto e = testing::MakeSampleExperiment();
  json report = testing::ReportOf(e);
  report["budget"] = testing::SampleBudget();
  report["budget"]["variants"] = json::array({{{"variant", "order=patched,gateway=on"},
                                               {"measured", report["budget"]["measured"]},
                                               {"projected", report["budget"]["projected"]}}});
  report["gate"] = testing::GateOf(e, {"budget"}, false);
  report["gate"]["findings"].push_back({{"variant", "order=patched,gateway=on"},
                                        {"run", nullptr},
                                        {"kind", "budget"},
                                        {"message", "projected peak 30.4GiB exceeds the 17.0GiB budget"},
                                        {"gated", true}});
  const XmlElement root = ParseOrFail(testing::JunitOf(report));
  EXPECT_EQ(Case(root, "order=patched,gateway=on")->Child("failure"), nullptr);
  const XmlElement* tc = Case(root, "budget");
  ASSERT_NE(tc, nullptr);
  ASSERT_NE(tc->Child("failure"), nullptr);
  EXPECT_TRUE(tc->Child("failure")->Attribute("message").starts_with(
      "order=patched,gateway=on: projected peak 30.4GiB exceeds the 17.0GiB budget (all variants together: measured "
      "peak 22.0MiB"))
      << tc->Child("failure")->Attribute("message");
  EXPECT_NE(tc->Child("system-out")
                ->text.find("order=patched,gateway=on: measured peak 22.0MiB at 1.25s (held by "
                            "shutdown tails: 11.0MiB); projected peak 30.4GiB"),
            std::string::npos)
      << tc->Child("system-out")->text;
}

TEST(JunitTest, WithoutAGateFindingsComeFromTheRuns) {
  const json report = testing::ReportOf(testing::MakeSampleExperiment());
  const XmlElement root = ParseOrFail(testing::JunitOf(report));
  EXPECT_NE(Case(root, "order=patched,gateway=off")->Child("failure"), nullptr);
  EXPECT_NE(Case(root, "order=patched,gateway=off #2"), nullptr);
  EXPECT_EQ(Case(root, "order=unpatched,gateway=on")->Child("failure"), nullptr);
  EXPECT_EQ(Case(root, "budget"), nullptr);
}

TEST(JunitTest, HostileLogLinesAndNamesStayWellFormed) {
  const std::string hostile = std::string("<b a=\"1\">&amp; ]]> <![CDATA[x]]>\x01\x1b[31m\x7f") + '\0' +
                              "\xff\xfe bad utf-8 \xef\xbf\xbf end\r";
  json report = testing::FullSampleReport(hostile);
  report["meta"]["notes"] = json::array({"note with \"quotes\" and\nnewline\t<tab>"});
  report["variants"][0]["spec"]["name"] = "a\"b'<c>&d\x02";
  const std::string xml = testing::JunitOf(report);
  const XmlElement root = ParseOrFail(xml);
  const XmlElement* tc = Case(root, "order=patched,gateway=off #2");
  ASSERT_NE(tc, nullptr);
  const std::string& out = tc->Child("system-out")->text;
  EXPECT_NE(out.find("<b a=\"1\">&amp; ]]> <![CDATA[x]]>\xEF\xBF\xBD\xEF\xBF\xBD[31m\x7f\xEF\xBF\xBD"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\xEF\xBF\xBD\xEF\xBF\xBD bad utf-8 \xEF\xBF\xBD end\r"), std::string::npos) << out;
  EXPECT_NE(Case(root, "a\"b'<c>&d\xEF\xBF\xBD"), nullptr);
  EXPECT_EQ(Property(*root.Child("testsuite"), "note"), "note with \"quotes\" and\nnewline\t<tab>");
}

TEST(JunitTest, ParsesWithPythonsXmlParser) {
  if (std::system("command -v python3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not installed";
  const std::string hostile = std::string("<&]]>\x01\x0b\x1b") + '\0' + "\xff\xef\xbf\xbe";
  const test_support::TempDir dir("junit-test");
  const auto path = dir.path() / "report.xml";
  std::ofstream(path) << testing::JunitOf(testing::FullSampleReport(hostile));
  const std::string command =
      "python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
      "assert r.tag == \"testsuites\" and len(r.findall(\"testsuite/testcase\")) == 5' " +
      path.string();
  EXPECT_EQ(std::system(command.c_str()), 0);
}

TEST(JunitTest, InterruptedReportHasAnErrorCase) {
  json report = testing::FullSampleReport();
  report["meta"]["interrupted"] = true;
  report["meta"]["exit_code"] = 130;
  const XmlElement root = ParseOrFail(testing::JunitOf(report));
  const XmlElement* tc = Case(root, "harness");
  ASSERT_NE(tc, nullptr);
  ASSERT_NE(tc->Child("error"), nullptr);
  EXPECT_EQ(tc->Child("error")->Attribute("type"), "interrupted");
  EXPECT_EQ(root.Child("testsuite")->Attribute("errors"), "1");
}

// Reading a report is strict (report_document.h): what used to be rendered around a missing or mistyped
// key is refused with the key named, and only a document reaches the renderer.
TEST(JunitTest, AReportMissingOrMistypingKeysIsRefusedNotRendered) {
  const std::pair<json, std::string> cases[] = {
      {json::object(), "schema: a string, missing"},
      {json::array(), "the report: an object, found an array"},
      {json{{"schema", "coder.diag.shutdown/v1"}, {"variants", 5}}, "meta: an object, missing"},
  };
  for (const auto& [report, error] : cases) {
    const auto read = ReadWholeReport(report);
    ASSERT_FALSE(read) << report.dump();
    EXPECT_EQ(read.error().message, error);
  }
  const std::string xml = RenderJunit(ReportDocument{}, InMemoryRuns({}));
  std::string error;
  EXPECT_TRUE(XmlCheck::Parse(xml, &error)) << error << "\n" << xml;
}

TEST(JunitTest, XmlEscapeOfAttributesKeepsWhitespaceAsReferences) {
  EXPECT_EQ(XmlEscape("a\tb\nc\rd\"e'<>&", true), "a&#9;b&#10;c&#13;d&quot;e'&lt;&gt;&amp;");
  EXPECT_EQ(XmlEscape("a\tb\nc\rd\"e", false), "a\tb\nc&#13;d\"e");
}

// The check the tests above rely on must itself reject what XML 1.0 forbids.
TEST(JunitXmlCheckTest, RejectsMalformedDocuments) {
  for (const std::string doc :
       {"<a>", "<a></b>", "<a>x</a><b/>", "<a>&</a>", "<a>&foo;</a>", "<a b=\"<\"/>", "<a b=\"1\" b=\"2\"/>",
        "<a>]]></a>", "<a>\x01</a>", "<a>&#1;</a>", "<a>\xff</a>", "<a>\xef\xbf\xbf</a>", "<a><![CDATA[x]]></a>"}) {
    EXPECT_FALSE(XmlCheck::Parse(doc, nullptr)) << doc;
  }
  std::string error;
  const auto root = XmlCheck::Parse("<?xml version=\"1.0\"?>\n<a x=\"&lt;&#10;\">t&amp;<b/>&#x1F600;</a>\n", &error);
  ASSERT_TRUE(root) << error;
  EXPECT_EQ(root->Attribute("x"), "<\n");
  EXPECT_EQ(root->text, "t&\xF0\x9F\x98\x80");
  EXPECT_EQ(root->children.size(), 1u);
}

TEST(JunitTest, CensoredLatenciesAreBoundsAndAFixedTailFailsItsVariant) {
  const XmlElement root = ParseOrFail(testing::JunitOf(testing::TimeoutsReport()));
  const XmlElement* hangs = Case(root, "hangs");
  ASSERT_NE(hangs, nullptr);
  EXPECT_EQ(Property(*hangs, "latency_censored"), "3");
  EXPECT_EQ(Property(*hangs, "latency_lower_bounds"), "p50,p95,p99,max,mean");
  EXPECT_EQ(Property(*hangs, "p95_ratio_bound"), "lower_bound");
  EXPECT_EQ(Property(*hangs, "suite_shutdown_lower_bound"), "true");
  const XmlElement* out = hangs->Child("system-out");
  ASSERT_NE(out, nullptr);
  EXPECT_NE(out->text.find("shutdown latency min 12.0ms p50 >= 8.004s p95 >= 8.006s p99 >= 8.006s max >= 8.006s"),
            std::string::npos)
      << out->text;
  EXPECT_NE(out->text.find("(>= marks a lower bound: 3 runs killed by the watchdog"), std::string::npos) << out->text;

  const XmlElement* go = Case(root, "go");
  ASSERT_NE(go, nullptr);
  const XmlElement* failure = go->Child("failure");
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->Attribute("type"), "fixed-tail");
  EXPECT_NE(failure->Attribute("message").find("stops cluster at 3.003s (3 of 3 runs within 2.00ms)"),
            std::string::npos)
      << failure->Attribute("message");
  EXPECT_EQ(Property(*go, "fixed_tail_ms"), "3003");
  EXPECT_NE(go->Child("system-out")->text.find("fixed tail: stops cluster at 3.003s"), std::string::npos);
}

}  // namespace
}  // namespace coder::harness
