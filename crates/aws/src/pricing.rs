//! Prices from the live APIs: on-demand from the Pricing API's GetProducts with upstream's
//! filters (region, Linux, no pre-installed software, capacity status Used, shared tenancy,
//! on-demand), spot from DescribeSpotPriceHistory (Linux/UNIX, the newest price per type
//! and zone).

use std::collections::BTreeMap;

use aws_sdk_pricing::types::{Filter, FilterType};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::AwsError;

/// The on-demand price of one GetProducts price-list document: (type, USD per hour).
pub fn parse_product(doc: &str) -> Option<(String, f64)> {
    let v: Value = serde_json::from_str(doc).ok()?;
    let ty = v
        .pointer("/product/attributes/instanceType")?
        .as_str()?
        .to_string();
    let terms = v.pointer("/terms/OnDemand")?.as_object()?;
    let price = terms.values().find_map(|term| {
        term.get("priceDimensions")?
            .as_object()?
            .values()
            .find_map(|d| {
                d.pointer("/pricePerUnit/USD")?
                    .as_str()?
                    .parse::<f64>()
                    .ok()
            })
    })?;
    (price > 0.0).then_some((ty, price))
}

/// On-demand prices of the region, by type.
pub async fn on_demand(clients: &Clients) -> Result<BTreeMap<String, f64>, AwsError> {
    let filter = |field: &str, value: &str| {
        Filter::builder()
            .r#type(FilterType::TermMatch)
            .field(field)
            .value(value)
            .build()
            .map_err(|e| AwsError::other("GetProducts", e.to_string()))
    };
    let filters = vec![
        filter("regionCode", &clients.region)?,
        filter("serviceCode", "AmazonEC2")?,
        filter("preInstalledSw", "NA")?,
        filter("operatingSystem", "Linux")?,
        filter("capacitystatus", "Used")?,
        filter("marketoption", "OnDemand")?,
        filter("tenancy", "Shared")?,
    ];
    let mut out = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let answer = clients
            .pricing
            .get_products()
            .service_code("AmazonEC2")
            .set_filters(Some(filters.clone()))
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| AwsError::sdk("GetProducts", e))?;
        for doc in answer.price_list() {
            if let Some((ty, price)) = parse_product(doc) {
                out.insert(ty, price);
            }
        }
        token = answer.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// The newest spot price per (type, zone).
pub async fn spot(clients: &Clients) -> Result<BTreeMap<(String, String), f64>, AwsError> {
    let mut newest: BTreeMap<(String, String), (i64, f64)> = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let answer = clients
            .ec2
            .describe_spot_price_history()
            .product_descriptions("Linux/UNIX")
            .product_descriptions("Linux/UNIX (Amazon VPC)")
            .start_time(aws_sdk_ec2::primitives::DateTime::from(
                std::time::SystemTime::now(),
            ))
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| AwsError::sdk("DescribeSpotPriceHistory", e))?;
        for p in answer.spot_price_history() {
            let (Some(ty), Some(zone), Some(price)) = (
                p.instance_type().map(|t| t.as_str().to_string()),
                p.availability_zone().map(str::to_string),
                p.spot_price().and_then(|s| s.parse::<f64>().ok()),
            ) else {
                continue;
            };
            let at = p.timestamp().map_or(0, |t| t.secs());
            let e = newest.entry((ty, zone)).or_insert((at, price));
            if at >= e.0 {
                *e = (at, price);
            }
        }
        token = answer
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(newest.into_iter().map(|(k, (_, p))| (k, p)).collect())
}
