"""`python -m policies.cost.refresh` against an answer of the AWS Price List API, under botocore's Stubber.

tests/data/pricing/get_products-us-west-2.json holds every GetProducts request the refresh of
tests/data/pricing/table.json makes and the answer to each, in the API's answer format (PriceList
items as JSON strings, as botocore's own pricing example shows). It was written by hand from the figures
of policies/prices.json, not captured from AWS (no AWS access where this project is built; its SKUs
say HANDWRITTEN); a maintainer re-records it with
`python -m policies.cost.refresh --table tests/data/pricing/table.json --dry-run --record <that file>`.
"""

from __future__ import annotations

import datetime
import json
import shutil

import boto3
import pytest
from botocore.stub import Stubber

from policies.cost import refresh
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "pricing"
TODAY = datetime.date(2026, 12, 24)


def _client(calls):
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    stubber = Stubber(client)
    for call in calls:
        stubber.add_response("get_products", call["response"], call["params"])
    stubber.activate()
    return client, stubber


@pytest.fixture
def recorded():
    return json.loads((DATA / "get_products-us-west-2.json").read_text())


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "prices.json"
    shutil.copy(DATA / "table.json", path)
    return path


def test_the_refresh_rewrites_the_table_from_the_recorded_answer(recorded, table, capsys):
    client, stubber = _client(recorded)
    assert refresh.main(["--table", str(table)], client=client, today=TODAY) == 0
    stubber.assert_no_pending_responses()  # every recorded request was made, with exactly the recorded parameters
    written = json.loads(table.read_text())
    assert written["asOf"] == "2026-12-24" and written["compiledFrom"].startswith("AWS Price List API")
    assert written["regions"]["us-west-2"] == {
        "ec2": {"m7i.large": 0.1008},                 # was 0.1 in the test table
        "sagemaker": {"ml.c5.xlarge": 0.204},         # the Host (real-time inference) product
        "services": {"eks_cluster_extended_hour": 0.6,  # perCluster 0.10 + extendedSupport surcharge 0.50
                     "kms_requests_10k": 0.03,          # 0.000003 per request x 10,000
                     "logs_ingest_gb": 0.5,             # on the second page (NextToken), after the storage product
                     "s3_standard_gb_month": 0.023}}    # the first tier of three
    out = capsys.readouterr().out
    assert "us-west-2 ec2.m7i.large: 0.1 -> 0.1008 (Hrs)" in out
    assert "us-west-2 services.kms_requests_10k: 0.03 -> 0.03 (10,000 Requests) same" in out
    assert "us-west-2 services.logs_ingest_gb: 0.45 -> 0.5 (GB)" in out


def test_a_dry_run_writes_nothing_and_record_keeps_the_exchange(recorded, table, tmp_path):
    before = table.read_text()
    client, _ = _client(recorded)
    record = tmp_path / "recorded.json"
    assert refresh.main(["--table", str(table), "--dry-run", "--record", str(record)], client=client, today=TODAY) == 0
    assert table.read_text() == before
    assert json.loads(record.read_text()) == recorded


def test_an_item_not_found_writes_nothing_unless_allowed(recorded, table, capsys):
    without_ec2 = [dict(recorded[0], response={"FormatVersion": "aws_v1", "PriceList": []}), *recorded[1:]]
    before = table.read_text()
    client, _ = _client(without_ec2)
    assert refresh.main(["--table", str(table)], client=client, today=TODAY) == 1
    assert table.read_text() == before
    err = capsys.readouterr().err
    assert "not found: us-west-2 ec2.m7i.large: no AmazonEC2 product with usage type /(^|-)BoxUsage:m7i\\.large$/" in err
    assert "1 item(s) not found; nothing written" in err
    client, _ = _client(without_ec2)
    assert refresh.main(["--table", str(table), "--allow-missing"], client=client, today=TODAY) == 1
    written = json.loads(table.read_text())["regions"]["us-west-2"]
    assert written["ec2"] == {"m7i.large": 0.1} and written["services"]["logs_ingest_gb"] == 0.5  # the old figure is kept


def test_two_prices_for_one_item_are_ambiguous_not_averaged(recorded, table, capsys):
    ec2 = recorded[0]["response"]["PriceList"][0]
    dearer = ec2.replace('"USD": "0.1008000000"', '"USD": "0.2000000000"')
    calls = [dict(recorded[0], response={"FormatVersion": "aws_v1", "PriceList": [ec2, dearer]}), *recorded[1:]]
    client, _ = _client(calls)
    assert refresh.main(["--table", str(table), "--dry-run"], client=client, today=TODAY) == 1
    assert "ec2.m7i.large: ambiguous: AmazonEC2" in capsys.readouterr().err


def test_only_the_usage_type_asked_for_is_read():
    product = {"product": {"attributes": {"usagetype": "USW2-Train:ml.c5.xlarge"}},
               "terms": {"OnDemand": {"t": {"priceDimensions": {"d": {"beginRange": "0", "unit": "Hrs", "pricePerUnit": {"USD": "9"}}}}}}}

    class One:
        def get_products(self, **params):
            return {"PriceList": [json.dumps(product)]}
    assert refresh.price_of(One(), refresh.sagemaker_query("ml.c5.xlarge"), "us-west-2").startswith("no AmazonSageMaker product")
    # us-east-1's usage types carry no region prefix; a look-alike product ("RegionalNatGateway-Hours") is not a NAT gateway
    pattern = refresh.SERVICE_QUERIES["nat_gateway_hour"][0].usagetype
    import re
    assert re.search(pattern, "NatGateway-Hours") and re.search(pattern, "USW2-NatGateway-Hours")
    assert not re.search(pattern, "USW2-RegionalNatGateway-Hours")


def test_a_new_region_is_priced_with_the_first_regions_items(recorded, table):
    to_eu = json.loads(json.dumps(recorded).replace("us-west-2", "eu-west-1").replace("USW2-", "EU-"))
    client, stubber = _client(recorded + to_eu)
    assert refresh.main(["--table", str(table), "--add-region", "eu-west-1"], client=client, today=TODAY) == 0
    stubber.assert_no_pending_responses()
    regions = json.loads(table.read_text())["regions"]
    assert regions["eu-west-1"] == regions["us-west-2"] and regions["eu-west-1"]["ec2"] == {"m7i.large": 0.1008}


def test_without_credentials_or_with_an_unknown_region_it_says_so_in_one_line(table, capsys):
    class NoCredentials:
        def get_products(self, **params):
            from botocore.exceptions import NoCredentialsError
            raise NoCredentialsError()
    assert refresh.main(["--table", str(table)], client=NoCredentials()) == 2
    assert capsys.readouterr().err.strip() == "refresh: the Price List API failed: NoCredentialsError: Unable to locate credentials"
    assert refresh.main(["--table", str(table), "--region", "eu-west-9"], client=NoCredentials()) == 2
    assert "['eu-west-9'] not in prices.json" in capsys.readouterr().err
