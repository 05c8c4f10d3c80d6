#include "store/cursor.h"

namespace pgw::store {

const Columns* SqliteCursor::next(std::string* error) {
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return this;
  if (rc != SQLITE_DONE) *error = db_error(db_, path_, std::string("cannot read ") + what_);
  return nullptr;
}

}  // namespace pgw::store
