// Content-coding negotiation (src/modules/compress/accept_encoding.h), RFC 9110 §12.5.3.
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "modules/compress/accept_encoding.h"

using gw::compress::Coding;
using gw::compress::negotiate;
using gw::compress::Negotiated;

namespace {

const std::vector<Coding> kAll = {Coding::Br, Coding::Zstd, Coding::Gzip};

Negotiated pick(std::vector<std::string_view> fields, const std::vector<Coding>& offered = kAll) {
    return negotiate(fields, offered);
}

Coding coding(std::vector<std::string_view> fields, const std::vector<Coding>& offered = kAll) {
    return pick(std::move(fields), offered).coding;
}

}  // namespace

TEST(AcceptEncoding, NoFieldNoCompression) {
    Negotiated n = pick({});
    EXPECT_EQ(n.coding, Coding::Identity);
    EXPECT_TRUE(n.identity_acceptable);
}

TEST(AcceptEncoding, EmptyFieldIsIdentityOnly) {
    Negotiated n = pick({""});
    EXPECT_EQ(n.coding, Coding::Identity);
    EXPECT_TRUE(n.identity_acceptable);
}

TEST(AcceptEncoding, WhatBrowsersAndCurlSend) {
    EXPECT_EQ(coding({"gzip, deflate, br, zstd"}), Coding::Br);  // Chrome: equal weights, our order
    EXPECT_EQ(coding({"gzip, deflate, br"}), Coding::Br);
    EXPECT_EQ(coding({"gzip, deflate"}), Coding::Gzip);
    EXPECT_EQ(coding({"deflate, gzip"}, {Coding::Gzip}), Coding::Gzip);
    EXPECT_EQ(coding({"deflate"}), Coding::Identity);  // nothing we offer
    EXPECT_EQ(coding({"gzip, deflate, br, zstd"}, {Coding::Zstd, Coding::Gzip}), Coding::Zstd);
}

TEST(AcceptEncoding, WeightsDecideThenTheRoutesOrder) {
    EXPECT_EQ(coding({"br;q=0.5, gzip;q=0.8"}), Coding::Gzip);
    EXPECT_EQ(coding({"br;q=0.8, gzip;q=0.8"}), Coding::Br);
    EXPECT_EQ(coding({"br;q=0.8, gzip;q=0.8"}, {Coding::Gzip, Coding::Br}), Coding::Gzip);
    EXPECT_EQ(coding({"gzip;q=1.0, br;q=0.999"}), Coding::Gzip);
    EXPECT_EQ(coding({"gzip ; q=0.5 , br ;q=0.4"}), Coding::Gzip);  // blanks around ';' and ','
    EXPECT_EQ(coding({"GZIP;Q=0.5"}), Coding::Gzip);                 // names and "q" case-insensitive
}

TEST(AcceptEncoding, ZeroMeansNotAcceptable) {
    EXPECT_EQ(coding({"br;q=0, gzip"}), Coding::Gzip);
    EXPECT_EQ(coding({"br;q=0, gzip;q=0"}), Coding::Identity);
    EXPECT_EQ(coding({"br;q=0.000"}), Coding::Identity);
}

TEST(AcceptEncoding, StarCoversWhatIsNotNamed) {
    EXPECT_EQ(coding({"*"}), Coding::Br);
    EXPECT_EQ(coding({"br;q=0, *"}), Coding::Zstd);
    EXPECT_EQ(coding({"*;q=0.5, gzip"}), Coding::Gzip);
    EXPECT_EQ(coding({"*;q=0"}), Coding::Identity);
}

TEST(AcceptEncoding, IdentityExcluded) {
    Negotiated n = pick({"identity;q=0"});
    EXPECT_EQ(n.coding, Coding::Identity);
    EXPECT_FALSE(n.identity_acceptable);
    n = pick({"*;q=0"});
    EXPECT_FALSE(n.identity_acceptable);
    n = pick({"*;q=0, identity"});  // identity's own element wins over "*"
    EXPECT_TRUE(n.identity_acceptable);
    n = pick({"identity;q=0, gzip"});
    EXPECT_EQ(n.coding, Coding::Gzip);
    EXPECT_TRUE(n.identity_acceptable) << "a coding was chosen";
    n = pick({"identity;q=0, deflate"});
    EXPECT_FALSE(n.identity_acceptable) << "nothing we offer, and identity refused";
}

TEST(AcceptEncoding, BadWeightsIgnoreTheElement) {
    for (std::string_view bad : {"br;q=2", "br;q=1.5", "br;q=1.0001", "br;q=0.1234", "br;q=.5", "br;q=", "br;q=abc",
                                 "br;q=-1", "br;q=0.5x"})
        EXPECT_EQ(coding({bad, "gzip;q=0.1"}), Coding::Gzip) << bad;
    EXPECT_EQ(coding({"br;q=1."}), Coding::Br);
    EXPECT_EQ(coding({"br;level=5;q=0.5, gzip;q=0.4"}), Coding::Br) << "other parameters are ignored";
}

TEST(AcceptEncoding, SeveralFieldsAreOneList) {
    EXPECT_EQ(coding({"gzip;q=0.5", "br;q=0.9"}), Coding::Br);
    EXPECT_EQ(coding({"", "gzip"}), Coding::Gzip);
    EXPECT_EQ(coding({"x-gzip"}), Coding::Gzip);
    EXPECT_EQ(coding({"br;q=0.1, br;q=0.9, gzip;q=0.5"}), Coding::Br) << "a coding named twice: its highest weight";
    EXPECT_EQ(coding({",,, gzip ,,"}), Coding::Gzip);
}

TEST(AcceptEncoding, Names) {
    EXPECT_EQ(gw::compress::coding_name(Coding::Gzip), "gzip");
    EXPECT_EQ(gw::compress::coding_name(Coding::Br), "br");
    EXPECT_EQ(gw::compress::coding_name(Coding::Zstd), "zstd");
    EXPECT_EQ(gw::compress::coding_name(Coding::Identity), "identity");
}
