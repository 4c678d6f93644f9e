/**
 * Runs `task` for indexes 0..count-1 with at most `limit` in flight, results in index order.
 * After a task throws, no new task starts; the ones in flight finish (their calls are already paid
 * for), then the error of the lowest failed index is thrown, so the report does not depend on timing.
 */
export async function mapWithConcurrency<T>(
	count: number,
	limit: number,
	task: (index: number) => Promise<T>,
): Promise<T[]> {
	const results = new Array<T>(count);
	const failures = new Map<number, unknown>();
	let next = 0;
	const worker = async () => {
		while (failures.size === 0 && next < count) {
			const index = next++;
			try {
				results[index] = await task(index);
			} catch (error) {
				failures.set(index, error);
			}
		}
	};
	const workers = Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker);
	await Promise.all(workers);
	if (failures.size > 0) throw failures.get(Math.min(...failures.keys()));
	return results;
}
