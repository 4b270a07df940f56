//! Where the discovery keyring gets a KMS client for the region of an encrypted data key.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use aws_sdk_kms::config::Region;
use aws_sdk_kms::Client;

/// Supplies a KMS client for a region.
///
/// KMS decrypts only in the region of the key, so a keyring that decrypts data keys from several
/// regions needs one client per region. [`aws_sdk_kms::Client`] is a supplier for its own region
/// only; [`RegionalClients`] derives a client for any region from one configuration.
pub trait KmsClientSupplier: Send + Sync + std::fmt::Debug {
    /// A client for `region`, or why there is none (the keyring then skips the EDK and records
    /// the reason).
    fn client_for_region(&self, region: &str) -> Result<Client, String>;
}

impl KmsClientSupplier for Client {
    fn client_for_region(&self, region: &str) -> Result<Client, String> {
        match self.config().region() {
            Some(r) if r.as_ref() == region => Ok(self.clone()),
            Some(r) => Err(format!(
                "the KMS client is for region {r}, not {region} (use RegionalClients to \
                 decrypt in several regions)"
            )),
            None => Err("the KMS client has no region configured".into()),
        }
    }
}

/// One KMS client per region, all with the configuration of a template client (credentials,
/// retries, timeouts, interceptors, endpoint override) and each made on first use.
///
/// ```no_run
/// # async fn f() {
/// use sealbox::{KmsDiscoveryKeyring, RegionalClients};
///
/// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let clients = RegionalClients::new(&aws_sdk_kms::Client::new(&config))
///     .with_regions(["us-east-1", "eu-west-1"]);
/// let keyring = KmsDiscoveryKeyring::new(clients);
/// # }
/// ```
#[derive(Debug)]
pub struct RegionalClients {
    template: aws_sdk_kms::Config,
    regions: Option<BTreeSet<String>>,
    clients: Mutex<HashMap<String, Client>>,
}

impl RegionalClients {
    /// Clients derived from `template`'s configuration, for any region.
    pub fn new(template: &Client) -> Self {
        RegionalClients {
            template: template.config().clone(),
            regions: None,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Only supply clients for these regions: EDKs in other regions are skipped without a call.
    pub fn with_regions<I, S>(mut self, regions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.regions = Some(regions.into_iter().map(Into::into).collect());
        self
    }
}

impl KmsClientSupplier for RegionalClients {
    fn client_for_region(&self, region: &str) -> Result<Client, String> {
        if let Some(allowed) = &self.regions {
            if !allowed.contains(region) {
                return Err(format!(
                    "region {region} is not among the configured regions"
                ));
            }
        }
        // A poisoned lock only means another thread panicked while inserting a client; the map
        // is still a valid cache.
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let client = clients.entry(region.to_owned()).or_insert_with(|| {
            let config = self
                .template
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build();
            Client::from_conf(config)
        });
        Ok(client.clone())
    }
}
