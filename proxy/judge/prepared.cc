#include "proxy/judge/prepared.h"

namespace pgw {

void apply_change(ProtocolObjects& objects, const Expect& e) {
  if (e.internal) return;
  switch (e.request) {
    case 'P':
      if (e.prepares) objects.statements[e.statement] = e.prepares;
      else objects.statements.erase(e.statement);
      break;
    case 'B':
      if (!e.portal) break;
      if (e.binds) objects.portals[*e.portal] = e.binds;
      else objects.portals.erase(*e.portal);
      break;
    case 'C':
      if (e.portal) objects.portals.erase(*e.portal);
      else objects.statements.erase(e.statement);
      break;
  }
}

void confirm_change(MirroredObjects& m, const Expect& e, char reply_type) {
  bool confirms = (e.request == 'P' && reply_type == '1') || (e.request == 'B' && reply_type == '2') ||
                  (e.request == 'C' && reply_type == '3');
  if (confirms) apply_change(m.confirmed, e);
}

void rebuild_expected(MirroredObjects& m, const std::deque<Expect>& pending) {
  m.expected = m.confirmed;
  for (const Expect& e : pending) apply_change(m.expected, e);
}

}  // namespace pgw
