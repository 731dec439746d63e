"""Reading a graph in tests: which Function classes made a tensor."""


def node_kinds(root):
    """The classes of every node of the graph that made `root`, walked from it without recursion
    (a freed graph's nodes hold no inputs: the walk stops there)."""
    kinds, seen, todo = set(), set(), [root]
    while todo:
        node = todo.pop().creator
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        kinds.add(type(node))
        todo.extend(node.inputs or ())
    return kinds
