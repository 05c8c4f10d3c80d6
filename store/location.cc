// StoreLocation: which backend a `--store` argument names, and how messages name the store.
#include "store/audit.h"
#include "store/pg_schema.h"

namespace pgw::store {

StoreLocation StoreLocation::parse(const std::string& store) {
  if (is_postgres_location(store)) {
    return StoreLocation{.backend = Backend::postgresql, .dsn = store};
  }
  return StoreLocation{.path = store};
}

std::string StoreLocation::describe() const {
  if (backend == Backend::sqlite) return path;
  return PgLocation{dsn, schema}.describe();
}

}  // namespace pgw::store
