/**
 * Contract §8: whether a redial the CRM pushed to a running campaign may be written to the
 * contact's row. Pure: the activity reads the row (locked) and applies the answer.
 */
import { lastStateName } from './contract';

export interface RedialRow {
  campaign_name: string | null;
  contact_successful: number;
  number_of_contacts: number;
  cached_by: string | null;
  last_state: number | null;
  phone_number: string | null;
}

/** time: the contact waits in this campaign (at 3): only its time moves. row: it becomes a redial. */
export type RedialDecision = { write: 'time' | 'row' } | { refused: string };

export function decideRedial(
  row: RedialRow | undefined,
  o: { campaign: string; holder: string; maxAttempts: number },
): RedialDecision {
  if (!row) return { refused: 'there is no contact with this id' };
  if (row.campaign_name !== o.campaign) {
    return {
      refused: row.campaign_name
        ? `it belongs to campaign "${row.campaign_name}", not "${o.campaign}"`
        : 'it belongs to no campaign (campaign_name is empty)',
    };
  }
  if (row.contact_successful === 3) {
    return row.cached_by === o.holder
      ? { write: 'time' }
      : { refused: `it is in the cache of ${row.cached_by ?? 'another campaign run'}` };
  }
  if (row.contact_successful === -1) {
    const last = row.last_state === null ? 'none' : (lastStateName(row.last_state) ?? String(row.last_state));
    return {
      refused: `it is Unreachable (-1, last state ${last}): review it, then put it back with \`dialer contacts reset\``,
    };
  }
  if (row.number_of_contacts >= o.maxAttempts) {
    return { refused: `it has had ${row.number_of_contacts} of ${o.maxAttempts} attempts` };
  }
  if (!row.phone_number || row.phone_number.trim() === '') return { refused: 'it has no phone number' };
  return { write: 'row' };
}
